// The runbot sandbox page: renders the Slack stand-in's state (Block Kit, mrkdwn, threads, ephemerals,
// modals, App Home) and acts through the stand-in, which signs every request to the bot as Slack does.
"use strict";

const S = {
  state: null,
  version: -1,
  current: null,        // channel id shown in the main pane
  tab: "messages",      // "messages" | "home" (the app's DM)
  appTab: "home",       // the app's tab last shown: as in Slack, an app with a Home tab opens on it first
  thread: null,         // {channel, ts} of the open thread
  split: null,          // channel id shown in the side pane (Shift+click a channel, as in Slack)
  highlight: null,      // ts of the message a permalink points at
  seen: {},             // channel id -> top-level messages already seen
  dismissed: new Set(), // ephemeral ids the user dismissed
  notices: [],          // local Slackbot notices (command errors): {channel, id, text}
  modalKey: null,
  shownChannel: null,   // channel the main pane showed last: a newly opened one starts at its newest message
  fetching: false,
  again: false,
};

const EMOJI = {
  white_check_mark: "✅", x: "❌", warning: "⚠️", rotating_light: "🚨", hourglass: "⌛", hourglass_flowing_sand: "⏳",
  arrows_counterclockwise: "🔄", raised_hand: "✋", double_vertical_bar: "⏸️", no_entry_sign: "🚫", fire: "🔥",
  tada: "🎉", eyes: "👀", bell: "🔔", link: "🔗", repeat: "🔁", mag: "🔍", memo: "📝", clock3: "🕒", robot_face: "🤖",
  heavy_check_mark: "✔️", thumbsup: "👍", "+1": "👍", thumbsdown: "👎", point_right: "👉", zap: "⚡", stopwatch: "⏱️",
  black_right_pointing_triangle_with_double_vertical_bar: "⏯️", arrow_forward: "▶️", red_circle: "🔴", large_green_circle: "🟢",
  large_yellow_circle: "🟡", information_source: "ℹ️", lock: "🔒", money_with_wings: "💸", package: "📦", alarm_clock: "⏰",
  calendar: "📆", moneybag: "💰", speech_balloon: "💬", no_entry: "⛔", pause_button: "⏸️", arrow_right: "➡️",
};

// ------------------------------------------------------------------ small helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "html") el.innerHTML = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function esc(s) {
  return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function unent(s) {
  return String(s).replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

function tsDate(ts) { return new Date(parseFloat(ts) * 1000); }

function clock(ts) {
  return tsDate(ts).toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
}

function toast(text, kind) {
  const t = h("div", { class: "toast" + (kind ? " " + kind : ""), role: "status" }, text);
  document.getElementById("toasts").append(t);
  setTimeout(() => t.remove(), 6000);
}

async function api(path, body) {
  try {
    const resp = await fetch("/sandbox/api/" + path, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}),
    });
    return await resp.json();
  } catch (e) {
    return { ok: false, error: "network", message: "The sandbox server is not answering" };
  }
}

function user(id) { return (S.state && S.state.users[id]) || null; }
function channel(id) { return S.state && S.state.channels.find((c) => c.id === id); }
function appDm() { return S.state && S.state.channels.find((c) => c.is_app_dm); }

// ------------------------------------------------------------------ mrkdwn

const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
  "November", "December"];
const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

function ordinal(n) {
  const s = ["th", "st", "nd", "rd"], v = n % 100;
  return n + (s[(v - 20) % 10] || s[v] || s[0]);
}

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

function ago(d) {
  const secs = Math.round((Date.now() - d.getTime()) / 1000);
  const abs = Math.abs(secs);
  const unit = abs < 60 ? [abs, "second"] : abs < 3600 ? [Math.round(abs / 60), "minute"]
    : abs < 86400 ? [Math.round(abs / 3600), "hour"] : [Math.round(abs / 86400), "day"];
  const words = unit[0] + " " + unit[1] + (unit[0] === 1 ? "" : "s");
  return secs >= 0 ? words + " ago" : "in " + words;
}

function pretty(d, fallback) {
  const now = new Date();
  const yesterday = new Date(now.getTime() - 86400000), tomorrow = new Date(now.getTime() + 86400000);
  if (sameDay(d, now)) return "today";
  if (sameDay(d, yesterday)) return "yesterday";
  if (sameDay(d, tomorrow)) return "tomorrow";
  return fallback;
}

// Slack's <!date^ts^format|fallback>, rendered in the reader's own time zone.
function formatDate(ts, format) {
  const d = new Date(ts * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  const dateLong = DAYS[d.getDay()] + ", " + MONTHS[d.getMonth()] + " " + ordinal(d.getDate()) + ", " + d.getFullYear();
  const date = MONTHS[d.getMonth()] + " " + ordinal(d.getDate()) + ", " + d.getFullYear();
  const dateShort = MONTHS[d.getMonth()].slice(0, 3) + " " + d.getDate() + ", " + d.getFullYear();
  const parts = {
    date_num: d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()),
    date: date, date_short: dateShort, date_long: dateLong,
    date_pretty: pretty(d, date), date_short_pretty: pretty(d, dateShort), date_long_pretty: pretty(d, dateLong),
    time: d.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" }),
    time_secs: d.toLocaleTimeString([], { hour: "numeric", minute: "2-digit", second: "2-digit" }),
    ago: ago(d),
  };
  return format.replace(/\{(\w+)\}/g, (m, k) => (k in parts ? parts[k] : m));
}

function angle(token) {
  const [target, ...rest] = token.split("|");
  const label = rest.join("|");
  if (target.startsWith("@")) {
    const id = target.slice(1);
    const u = user(id);
    const me = S.state && id === S.state.me;
    return '<span class="mention' + (me ? " me" : "") + '" data-user="' + esc(id) + '">@' +
      esc(u ? u.real_name : (label ? unent(label) : id)) + "</span>";
  }
  if (target.startsWith("#")) {
    const ch = channel(target.slice(1));
    return '<span class="mention">#' + esc(ch ? ch.name : (label ? unent(label) : target.slice(1))) + "</span>";
  }
  if (target.startsWith("!subteam^")) {
    const id = target.slice(9);
    const g = S.state && S.state.usergroups[id];
    const shown = label ? unent(label) : "@" + (g ? g.handle : id);
    return '<span class="mention" data-usergroup="' + esc(id) + '">' + esc(shown.startsWith("@") ? shown : "@" + shown) + "</span>";
  }
  if (target.startsWith("!date^")) {
    const [, ts, format, link] = target.split("^");
    const seconds = parseInt(ts, 10);
    if (isNaN(seconds)) return esc(unent(label || token));
    const text = esc(formatDate(seconds, format || "{date_short_pretty} {time}"));
    const title = esc(new Date(seconds * 1000).toString());
    const inner = '<span class="date" data-ts="' + seconds + '" title="' + title + '">' + text + "</span>";
    return link ? '<a href="' + esc(link) + '" target="_blank" rel="noopener">' + inner + "</a>" : inner;
  }
  if (/^!(here|channel|everyone)$/.test(target)) return '<span class="mention">@' + target.slice(1) + "</span>";
  if (target.startsWith("!")) return esc(unent(label || target.slice(1)));
  const url = unent(target);
  if (/^(https?:|mailto:)/i.test(url)) {
    return '<a href="' + esc(url) + '" target="_blank" rel="noopener">' + esc(unent(label || url)) + "</a>";
  }
  return esc(unent(label || target));
}

function mrkdwn(text) {
  const held = [];
  const hold = (html) => "\u0001" + (held.push(html) - 1) + "\u0002";
  let s = String(text || "");
  s = s.replace(/```([\s\S]*?)```/g, (_, c) => hold('<pre class="code">' + esc(unent(c.replace(/^\n/, ""))) + "</pre>"));
  s = s.replace(/`([^`\n]+)`/g, (_, c) => hold("<code>" + esc(unent(c)) + "</code>"));
  s = s.replace(/<([^<>\n]+)>/g, (_, t) => hold(angle(t)));
  s = esc(unent(s));
  s = s.replace(/(^|[^\w*])\*(?=\S)([^*\n]*?\S)\*(?!\w)/g, "$1<b>$2</b>");
  s = s.replace(/(^|[^\w_])_(?=\S)([^_\n]*?\S)_(?!\w)/g, "$1<i>$2</i>");
  s = s.replace(/(^|[^\w~])~(?=\S)([^~\n]*?\S)~(?!\w)/g, "$1<s>$2</s>");
  s = s.replace(/:([a-z0-9_+\-]+):/g, (m, n) => EMOJI[n] || m);
  s = s.split("\n").map((line) => (line.startsWith("&gt; ") || line === "&gt;"
    ? "<blockquote>" + line.slice(5) + "</blockquote>" : line + "<br>")).join("");
  s = s.replace(/(<br>)+$/, "");
  return s.replace(/\u0001(\d+)\u0002/g, (_, i) => held[+i]);
}

function textHtml(obj) {
  if (!obj) return "";
  if (typeof obj === "string") return mrkdwn(obj);
  if (obj.type === "plain_text") {
    const t = esc(obj.text || "").replace(/\n/g, "<br>");
    return obj.emoji === false ? t : t.replace(/:([a-z0-9_+\-]+):/g, (m, n) => EMOJI[n] || m);
  }
  return mrkdwn(obj.text || "");
}

function plain(obj) { return obj ? (typeof obj === "string" ? obj : obj.text || "") : ""; }

// ------------------------------------------------------------------ Block Kit

// ctx: {kind: "message"|"ephemeral"|"view", channel, ts, ephemeral_id, view_id, inModal}
function renderBlocks(blocks, ctx) {
  const out = [];
  for (const b of blocks || []) out.push(renderBlock(b, ctx));
  return out;
}

function renderBlock(b, ctx) {
  const attrs = { "data-block-id": b.block_id || null };
  switch (b.type) {
    case "section": {
      const main = h("div", { class: "main" });
      if (b.text) main.append(h("div", { class: "text", html: textHtml(b.text) }));
      if (b.fields) main.append(h("div", { class: "fields" }, b.fields.map((f) => h("div", { html: textHtml(f) }))));
      const sec = h("div", { class: "block section", ...attrs }, main);
      if (b.accessory) sec.append(h("div", { class: "accessory" }, renderElement(b.accessory, b, ctx)));
      return sec;
    }
    case "header":
      return h("div", { class: "block header", ...attrs, html: textHtml(b.text) });
    case "divider":
      return h("hr", { class: "block divider" });
    case "context":
      return h("div", { class: "block context", ...attrs }, (b.elements || []).map((el) => (el.type === "image"
        ? h("img", { src: el.image_url, alt: el.alt_text || "" })
        : h("span", { html: textHtml(el) }))));
    case "actions":
      return h("div", { class: "block actions", ...attrs }, (b.elements || []).map((el) => renderElement(el, b, ctx)));
    case "image":
      return h("div", { class: "block", ...attrs }, b.title ? h("div", { html: textHtml(b.title) }) : null,
        h("img", { class: "block-image", src: b.image_url, alt: b.alt_text || "" }));
    case "input":
      return renderInput(b, ctx);
    case "markdown":
      return h("div", { class: "block", ...attrs, html: mrkdwn(b.text || "") });
    case "rich_text":
      return h("div", { class: "block", ...attrs, html: mrkdwn(richText(b.elements || [])) });
    default:
      return h("div", { class: "block unsupported" }, "[" + b.type + " block]");
  }
}

function richText(elements) {
  let s = "";
  for (const el of elements) {
    if (el.elements) s += richText(el.elements) + (el.type === "rich_text_section" ? "" : "\n");
    else if (el.type === "text") s += el.text;
    else if (el.type === "link") s += "<" + el.url + (el.text ? "|" + el.text : "") + ">";
    else if (el.type === "user") s += "<@" + el.user_id + ">";
    else if (el.type === "emoji") s += ":" + el.name + ":";
  }
  return s;
}

function options(el) {
  const opts = [...(el.options || [])];
  for (const g of el.option_groups || []) opts.push(...(g.options || []));
  return opts;
}

function renderElement(el, block, ctx) {
  switch (el.type) {
    case "button": {
      const cls = "btn" + (el.style ? " " + el.style : "") + (el.url ? " link" : "");
      const attrs = { class: cls, "data-action-id": el.action_id || null, title: el.accessibility_label || null };
      if (el.url) {
        return h("a", { ...attrs, href: el.url, target: "_blank", rel: "noopener",
          onclick: () => { if (el.action_id) sendClick(ctx, el, null, null); } }, plain(el.text));
      }
      const button = h("button", { ...attrs, type: "button" }, plain(el.text));
      button.addEventListener("click", () => withConfirm(el.confirm, () => sendClick(ctx, el, el.value, button)));
      return button;
    }
    case "static_select":
    case "overflow":
    case "external_select": {
      // Slack's overflow menu is a small ⋯ button, not as wide as its longest option.
      const sel = h("select", { class: el.type === "overflow" ? "select overflow" : "select",
        "data-action-id": el.action_id || null, title: el.type === "overflow" ? "More actions" : null },
        h("option", { value: "" }, el.type === "overflow" ? "⋯" : plain(el.placeholder) || "Select an item"),
        options(el).map((o) => h("option", { value: o.value, selected: el.initial_option && el.initial_option.value === o.value },
          plain(o.text))));
      sel.addEventListener("change", () => {
        if (!sel.value) return;
        const opt = options(el).find((o) => o.value === sel.value) || {};
        withConfirm(el.confirm || opt.confirm, () => sendClick(ctx, el, sel.value, sel));
      });
      return sel;
    }
    case "users_select": {
      const sel = h("select", { class: "select", "data-action-id": el.action_id || null },
        h("option", { value: "" }, plain(el.placeholder) || "Select a person"),
        Object.entries(S.state.users).filter(([, u]) => !u.is_bot).map(([id, u]) => h("option", { value: id }, u.real_name)));
      sel.addEventListener("change", () => sel.value && sendClick(ctx, el, sel.value, sel));
      return sel;
    }
    case "image":
      return h("img", { src: el.image_url, alt: el.alt_text || "" });
    default:
      return h("span", { class: "unsupported" }, "[" + el.type + "]");
  }
}

function renderInput(b, ctx) {
  const el = b.element || {};
  const errors = (ctx.errors || {})[b.block_id];
  const id = "in-" + (b.block_id || Math.random().toString(36).slice(2));
  let control;
  const common = { id, "data-input-type": el.type, "data-action-id": el.action_id };
  if (el.type === "plain_text_input") {
    control = el.multiline
      ? h("textarea", { ...common, placeholder: plain(el.placeholder) || null, maxlength: el.max_length || null })
      : h("input", { ...common, type: "text", placeholder: plain(el.placeholder) || null, maxlength: el.max_length || null });
    control.value = el.initial_value || "";
  } else if (el.type === "static_select") {
    control = h("select", common, h("option", { value: "" }, plain(el.placeholder) || "Select an item"),
      options(el).map((o) => h("option", { value: o.value, selected: el.initial_option && el.initial_option.value === o.value },
        plain(o.text))));
  } else if (el.type === "datepicker") {
    control = h("input", { ...common, type: "date", value: el.initial_date || null });
  } else if (el.type === "number_input" || el.type === "email_text_input" || el.type === "url_text_input") {
    control = h("input", { ...common, type: "text", value: el.initial_value || null, placeholder: plain(el.placeholder) || null });
  } else {
    control = h("span", { class: "unsupported" }, "[" + el.type + " input]");
  }
  return h("div", { class: "input-block" + (errors ? " has-error" : ""), "data-block-id": b.block_id },
    h("label", { for: id }, plain(b.label), b.optional ? h("span", { class: "optional" }, " (optional)") : null),
    control,
    b.hint ? h("div", { class: "hint" }, plain(b.hint)) : null,
    errors ? h("div", { class: "inline-error" }, errors) : null);
}

// ------------------------------------------------------------------ acting through the stand-in

async function sendClick(ctx, el, value, control) {
  const body = { action_id: el.action_id, value: value === null || value === undefined ? null : value };
  if (ctx.view_id) body.view_id = ctx.view_id;
  else if (ctx.ephemeral_id) body.ephemeral_id = ctx.ephemeral_id;
  else { body.channel = ctx.channel; body.ts = ctx.ts; }
  if (control) { control.classList.add("busy"); control.disabled = true; }
  const result = await api("click", body);
  if (control) { control.classList.remove("busy"); control.disabled = false; }
  if (!result.ok) toast(result.message || "Something went wrong", "error");
  refresh();
}

async function shortcut(body) {
  const result = await api("shortcut", body);
  if (!result.ok) toast(result.message || "runbot did not answer", "error");
  refresh();
}

function withConfirm(confirm, go) {
  if (!confirm) { go(); return; }
  const root = document.getElementById("confirm-root");
  const close = () => { root.innerHTML = ""; };
  const yes = h("button", { class: "btn " + (confirm.style === "danger" ? "danger solid" : "primary"), type: "button",
    "data-confirm": "yes" }, plain(confirm.confirm) || "Yes");
  const no = h("button", { class: "btn", type: "button", "data-confirm": "no" }, plain(confirm.deny) || "Cancel");
  yes.addEventListener("click", () => { close(); go(); });
  no.addEventListener("click", close);
  root.append(h("div", { class: "overlay", onclick: (e) => { if (e.target === e.currentTarget) close(); } },
    h("div", { class: "dialog confirm", role: "alertdialog" },
      h("header", {}, h("h2", {}, plain(confirm.title) || "Are you sure?")),
      h("div", { class: "body", html: textHtml(confirm.text) }),
      h("footer", {}, no, yes))));
  yes.focus();
}

async function sendComposer(text, channelId, threadTs) {
  text = text.trim();
  if (!text) return;
  if (text.startsWith("/") && !threadTs) {
    const result = await api("command", { text, channel: channelId });
    if (!result.ok) {
      const cmd = text.split(/\s+/)[0];
      // Slack's own words: an unknown command is "not a valid command"; a known one that fails names its error.
      const said = result.error === "invalid_command" ? result.message
        : cmd + " failed with the error \"" + (result.error || "dispatch_failed") + "\": " + (result.message || "");
      S.notices.push({ channel: channelId, id: "local-" + Date.now(), text: said });
      render();
    }
  } else {
    const result = await api("message", { text, channel: channelId, thread_ts: threadTs || null });
    if (!result.ok) toast(result.message || "Could not send", "error");
  }
  refresh();
}

// ------------------------------------------------------------------ rendering

function permalink(channelId, ts, threadTs) {
  let url = "/sandbox/archives/" + channelId + "/p" + String(ts).replace(".", "");
  if (threadTs && threadTs !== ts) url += "?thread_ts=" + threadTs + "&cid=" + channelId;
  return url;
}

function renderAttachments(atts, ctx) {
  return (atts || []).map((a) => h("div", { class: "attachment", style: a.color ? "border-left-color:" + (a.color.startsWith("#") ? a.color : "#" + a.color) : null },
    a.pretext ? h("div", { html: mrkdwn(a.pretext) }) : null,
    a.title ? h("div", { html: "<b>" + esc(a.title) + "</b>" }) : null,
    a.text ? h("div", { html: mrkdwn(a.text) }) : null,
    a.blocks ? renderBlocks(a.blocks, ctx) : null,
    (a.fields || []).length ? h("div", { class: "fields" }, a.fields.map((f) => h("div", { html: "<b>" + esc(f.title || "") + "</b><br>" + mrkdwn(f.value || "") }))) : null));
}

function renderMessage(m, ch, opts) {
  const isBot = !!m.bot_id;
  const u = user(m.user);
  const name = isBot ? S.state.bot.name : (u ? u.real_name : m.user);
  const ctx = { kind: "message", channel: ch.id, ts: m.ts };
  const content = h("div", { class: "content" });
  if (m.blocks && m.blocks.length) content.append(...renderBlocks(m.blocks, ctx));
  else content.innerHTML = mrkdwn(m.text);
  if (m.attachments) content.append(...renderAttachments(m.attachments, ctx));
  const body = h("div", { class: "body" },
    h("div", { class: "meta" }, h("span", { class: "author" }, name), isBot ? h("span", { class: "app-tag" }, "APP") : null,
      h("a", { class: "time", href: permalink(ch.id, m.ts, m.thread_ts), title: tsDate(m.ts).toString(),
        onclick: (e) => { e.preventDefault(); navigate(ch.id, m.ts, m.is_reply ? m.thread_ts : null); } }, clock(m.ts))),
    m.subtype === "thread_broadcast" && opts.inChannel ? h("div", { class: "broadcast-note" }, "replied to a thread") : null,
    content,
    m.edited_count ? h("span", { class: "edited" }, "(edited)") : null);
  if (opts.inChannel && m.reply_count) {
    const replies = ch.messages.filter((r) => r.is_reply && r.thread_ts === m.ts);
    const last = replies.length ? replies[replies.length - 1] : null;
    body.append(h("button", { class: "thread-link", type: "button", "data-thread": m.ts,
      onclick: () => openThread(ch.id, m.ts) },
      m.reply_count + (m.reply_count === 1 ? " reply" : " replies"),
      last ? h("span", { class: "last" }, "Last reply " + clock(last.ts)) : null));
  }
  // The app's message shortcut, as in Slack's "More actions" menu of a message.
  body.append(h("button", { class: "msg-shortcut", type: "button", title: "Shortcut: Show run", "data-shortcut": "runbot_show_run",
    onclick: () => shortcut({ callback_id: "runbot_show_run", channel: ch.id, ts: m.ts }) }, "⚡ Show run"));
  const initials = isBot ? "rb" : (name || "?").split(/\s+/).map((p) => p[0]).join("").slice(0, 2).toUpperCase();
  return h("div", { class: "msg" + (S.highlight === m.ts ? " highlight" : ""), "data-ts": m.ts, id: "m-" + m.ts.replace(".", "") },
    h("div", { class: "avatar" + (isBot ? "" : " human") }, initials), body);
}

function renderEphemeral(e, ch) {
  const ctx = { kind: "ephemeral", channel: ch.id, ephemeral_id: e.ts };
  const content = h("div", { class: "content" });
  if (e.blocks && e.blocks.length) content.append(...renderBlocks(e.blocks, ctx));
  else content.innerHTML = mrkdwn(e.text);
  return h("div", { class: "msg ephemeral", "data-ts": e.ts, "data-ephemeral": "true" },
    h("div", { class: "avatar" }, "rb"),
    h("div", { class: "body" },
      h("div", { class: "ephemeral-note" }, "👁 Only visible to you · ",
        h("a", { onclick: () => { S.dismissed.add(e.ts); render(); } }, "Dismiss")),
      h("div", { class: "meta" }, h("span", { class: "author" }, S.state.bot.name), h("span", { class: "app-tag" }, "APP"),
        h("span", { class: "time" }, clock(e.ts))),
      content));
}

function renderNotice(n) {
  return h("div", { class: "msg ephemeral", "data-notice": "true" },
    h("div", { class: "avatar slackbot" }, "sb"),
    h("div", { class: "body" },
      h("div", { class: "ephemeral-note" }, "👁 Only visible to you · ",
        h("a", { onclick: () => { S.notices = S.notices.filter((x) => x !== n); render(); } }, "Dismiss")),
      h("div", { class: "meta" }, h("span", { class: "author" }, "Slackbot")),
      h("div", { class: "content" }, n.text)));
}

function renderSidebar() {
  const list = document.getElementById("channel-list");
  const apps = document.getElementById("app-list");
  list.innerHTML = ""; apps.innerHTML = "";
  for (const ch of S.state.channels) {
    const top = ch.messages.filter((m) => !m.is_reply || m.subtype === "thread_broadcast").length;
    if (ch.id === S.current || ch.id === S.split) S.seen[ch.id] = top;
    const unread = Math.max(0, top - (S.seen[ch.id] || 0));
    const label = ch.is_app_dm ? S.state.bot.name : ch.is_im ? "DM " + ch.id : "# " + ch.name;
    const a = h("a", { href: "#", "data-channel": ch.id, "data-name": ch.is_im ? null : ch.name,
      class: (ch.id === S.current ? "active" : "") + (unread ? " unread" : ""),
      title: "Shift+click: open in a side pane",
      onclick: (e) => {
        e.preventDefault();
        if (e.shiftKey && !ch.is_app_dm) { S.thread = null; S.split = ch.id; render(); return; }
        selectChannel(ch.id, ch.is_app_dm ? S.appTab : "messages");
      } },
      h("span", {}, label), unread ? h("span", { class: "badge" }, unread) : null);
    (ch.is_im ? apps : list).append(h("li", {}, a));
  }
  const conn = document.getElementById("connection");
  conn.className = S.state.connected ? "conn-ok" : "conn-wait";
  conn.textContent = S.state.connected ? "runbot is connected" : "waiting for runbot…";
  document.getElementById("team-name").textContent = S.state.team.name;
  const me = user(S.state.me);
  document.getElementById("me").textContent = me ? me.real_name + " (you)" : S.state.me;
}

function atBottom(el) { return el.scrollHeight - el.scrollTop - el.clientHeight < 40; }

function renderMain() {
  const ch = channel(S.current);
  if (!ch) return;
  const title = document.getElementById("channel-title");
  const tabs = document.getElementById("tabs");
  tabs.innerHTML = "";
  title.textContent = ch.is_app_dm ? S.state.bot.name : ch.is_im ? ch.id : "# " + ch.name;
  if (ch.is_app_dm) {
    for (const [tab, label] of [["home", "Home"], ["messages", "Messages"]]) {
      tabs.append(h("a", { href: "#", class: S.tab === tab ? "active" : "", "data-tab": tab,
        onclick: (e) => { e.preventDefault(); selectChannel(ch.id, tab); } }, label));
    }
  }
  const showHome = ch.is_app_dm && S.tab === "home";
  const pane = document.getElementById("messages");
  const home = document.getElementById("home");
  pane.hidden = showHome; home.hidden = !showHome;
  document.getElementById("composer").hidden = showHome;
  document.getElementById("composer-input").placeholder = "Message " + (ch.is_im ? S.state.bot.name : "#" + ch.name);
  if (showHome) {
    home.innerHTML = "";
    const view = S.state.home;
    if (view) home.append(...renderBlocks(view.blocks, { kind: "view", view_id: view.id }));
    else home.append(h("div", { class: "empty" }, "runbot has not published its Home tab yet."));
    return;
  }
  const opened = S.shownChannel !== ch.id;
  S.shownChannel = ch.id;
  const stick = opened || atBottom(pane);
  const scroll = pane.scrollTop;
  const items = channelItems(ch);
  pane.innerHTML = "";
  if (!items.length) pane.append(h("div", { class: "empty" }, "No messages yet in " + title.textContent + "."));
  pane.append(...items);
  for (const n of S.notices) if (n.channel === ch.id) pane.append(renderNotice(n));
  if (S.highlight && S.highlightPending) {
    const target = pane.querySelector('[data-ts="' + S.highlight + '"]');
    if (target) { target.scrollIntoView({ block: "center" }); S.highlightPending = false; return; }
  }
  pane.scrollTop = stick ? pane.scrollHeight : scroll;
}

function channelItems(ch) {
  const items = [];
  for (const m of ch.messages) {
    if (m.is_reply && m.subtype !== "thread_broadcast") continue;
    items.push([m.ts, renderMessage(m, ch, { inChannel: true })]);
  }
  for (const e of ch.ephemerals) {
    if (S.dismissed.has(e.ts) || (e.thread_ts && e.thread_ts !== e.ts)) continue;
    items.push([e.ts, renderEphemeral(e, ch)]);
  }
  items.sort((a, b) => parseFloat(a[0]) - parseFloat(b[0]));
  return items.map((x) => x[1]);
}

function renderThread() {
  const app = document.getElementById("app");
  const pane = document.getElementById("thread");
  const list = document.getElementById("thread-messages");
  const title = pane.querySelector("h2");
  const side = S.thread ? channel(S.thread.channel) : S.split ? channel(S.split) : null;
  if (!side) {
    pane.hidden = true; app.classList.remove("with-thread"); return;
  }
  pane.hidden = false; app.classList.add("with-thread");
  const stick = atBottom(list);
  list.innerHTML = "";
  document.getElementById("thread-composer").hidden = !S.thread;
  pane.dataset.pane = S.thread ? "thread" : "channel";
  if (!S.thread) {
    title.textContent = "# " + side.name;
    document.getElementById("thread-channel").textContent = "";
    list.append(...channelItems(side));
    if (stick || !list.dataset.shown) list.scrollTop = list.scrollHeight;
    list.dataset.shown = "1";
    return;
  }
  const ch = side;
  title.textContent = "Thread";
  document.getElementById("thread-channel").textContent = ch.is_im ? S.state.bot.name : "#" + ch.name;
  const parent = ch.messages.find((m) => m.ts === S.thread.ts);
  if (!parent) { list.append(h("div", { class: "empty" }, "This message was deleted.")); return; }
  const replies = ch.messages.filter((m) => m.is_reply && m.thread_ts === parent.ts);
  const ephemerals = ch.ephemerals.filter((e) => e.thread_ts === parent.ts && !S.dismissed.has(e.ts));
  list.append(renderMessage(parent, ch, { inChannel: false }));
  list.append(h("div", { class: "thread-sep" }, replies.length + (replies.length === 1 ? " reply" : " replies")));
  const items = replies.map((m) => [m.ts, renderMessage(m, ch, { inChannel: false })])
    .concat(ephemerals.map((e) => [e.ts, renderEphemeral(e, ch)]));
  items.sort((a, b) => parseFloat(a[0]) - parseFloat(b[0]));
  list.append(...items.map((x) => x[1]));
  if (stick) list.scrollTop = list.scrollHeight;
}

function readModalValues(root) {
  const values = {};
  for (const block of root.querySelectorAll(".input-block")) {
    const control = block.querySelector("[data-input-type]");
    if (!control) continue;
    values[block.dataset.blockId] = { value: control.value };
  }
  return values;
}

function renderModal() {
  const root = document.getElementById("modal-root");
  const view = S.state.modal;
  const key = view ? view.id + ":" + view.hash + ":" + JSON.stringify(view.errors || {}) : null;
  if (key === S.modalKey) return;
  const previous = root.querySelector(".dialog");
  const kept = previous && view && previous.dataset.viewId === view.id ? readModalValues(previous) : {};
  S.modalKey = key;
  root.innerHTML = "";
  if (!view) return;
  const body = h("div", { class: "body" }, renderBlocks(view.blocks, { kind: "view", view_id: view.id, errors: view.errors }));
  for (const [blockId, v] of Object.entries(kept)) {
    const control = body.querySelector('.input-block[data-block-id="' + CSS.escape(blockId) + '"] [data-input-type]');
    if (control) control.value = v.value;
  }
  const close = async () => { await api("close", { view_id: view.id }); refresh(); };
  const submit = h("button", { class: "btn primary", type: "submit", "data-submit": "true" }, plain(view.submit) || "Submit");
  const form = h("form", { class: "dialog", "data-view-id": view.id, role: "dialog" },
    h("header", {}, h("h2", {}, plain(view.title)), h("button", { type: "button", title: "Close", onclick: close }, "✕")),
    body,
    h("footer", {}, h("button", { class: "btn", type: "button", onclick: close }, plain(view.close) || "Cancel"),
      view.submit ? submit : null));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!checkRequired(form, view)) return;
    submit.disabled = true;
    const result = await api("submit", { view_id: view.id, values: modalValues(form, view) });
    submit.disabled = false;
    if (!result.ok) toast(result.message || "Something went wrong", "error");
    refresh();
  });
  form.addEventListener("input", (e) => {
    const block = e.target.closest(".input-block");
    if (!block || (view.errors || {})[block.dataset.blockId]) return;
    block.classList.remove("has-error");
    const error = block.querySelector(".inline-error");
    if (error) error.remove();
  });
  root.append(h("div", { class: "overlay" }, form));
  const first = form.querySelector("input, textarea, select");
  if (first) first.focus();
}

function checkRequired(form, view) {
  let ok = true;
  for (const b of view.blocks) {
    if (b.type !== "input" || b.optional) continue;
    const block = form.querySelector('.input-block[data-block-id="' + CSS.escape(b.block_id) + '"]');
    const control = block && block.querySelector("[data-input-type]");
    if (control && !control.value.trim()) {
      ok = false;
      block.classList.add("has-error");
      if (!block.querySelector(".inline-error")) block.append(h("div", { class: "inline-error" }, "Please fill out this field."));
    }
  }
  return ok;
}

function modalValues(form, view) {
  const values = {};
  for (const b of view.blocks) {
    if (b.type !== "input" || !b.element) continue;
    const control = form.querySelector('.input-block[data-block-id="' + CSS.escape(b.block_id) + '"] [data-input-type]');
    if (!control) continue;
    const v = control.value.trim() === "" ? null : control.value;
    values[b.block_id] = { [b.element.action_id]: v };
  }
  return values;
}

function render() {
  if (!S.state) return;
  renderSidebar();
  renderMain();
  renderThread();
  renderModal();
}

// ------------------------------------------------------------------ navigation

function selectChannel(id, tab) {
  const changed = S.current !== id || S.tab !== tab;
  S.current = id;
  S.tab = tab || "messages";
  if (changed) S.highlight = null;
  const ch = channel(id);
  if (ch && ch.is_app_dm) S.appTab = S.tab;
  if (ch && ch.is_app_dm && S.tab === "home") {
    api("home", {}).then((r) => { if (!r.ok) toast(r.message || "runbot did not answer", "error"); refresh(); });
  }
  const path = ch && !ch.is_app_dm ? "/sandbox/archives/" + id : "/sandbox/";
  if (location.pathname !== path) history.replaceState(null, "", path);
  render();
  const pane = document.getElementById("messages");
  pane.scrollTop = pane.scrollHeight;
}

function openThread(channelId, ts) {
  S.thread = { channel: channelId, ts };
  render();
  document.getElementById("thread-input").focus();
}

function navigate(channelId, ts, threadTs) {
  S.current = channelId;
  S.tab = "messages";
  S.highlight = ts;
  S.highlightPending = true;
  if (threadTs) S.thread = { channel: channelId, ts: threadTs };
  history.replaceState(null, "", permalink(channelId, ts, threadTs));
  render();
}

function fromLocation() {
  const m = location.pathname.match(/\/sandbox\/archives\/([A-Z0-9]+)(?:\/p(\d{7,}))?/);
  if (!m) return false;
  const params = new URLSearchParams(location.search);
  S.current = m[1];
  if (m[2]) {
    S.highlight = m[2].slice(0, -6) + "." + m[2].slice(-6);
    S.highlightPending = true;
  }
  const thread = params.get("thread_ts");
  if (thread) S.thread = { channel: m[1], ts: thread };
  return true;
}

// Links to another message of the sandbox open it here, as Slack does with its permalinks.
document.addEventListener("click", (e) => {
  const a = e.target.closest && e.target.closest("a[href]");
  if (!a) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith("/sandbox/archives/")) return;
  const m = url.pathname.match(/\/sandbox\/archives\/([A-Z0-9]+)\/p(\d{7,})/);
  if (!m) return;
  e.preventDefault();
  const ts = m[2].slice(0, -6) + "." + m[2].slice(-6);
  navigate(m[1], ts, url.searchParams.get("thread_ts"));
});

// ------------------------------------------------------------------ state and live updates

async function refresh() {
  if (S.fetching) { S.again = true; return; }
  S.fetching = true;
  try {
    const resp = await fetch("/sandbox/api/state", { cache: "no-store" });
    const state = await resp.json();
    if (!S.state) forgetPreviousPage(state);
    S.state = state;
    S.version = state.version;
    if (!S.current || !channel(S.current)) {
      const alerts = state.channels.find((c) => c.name === "run-alerts");
      S.current = (alerts || state.channels[0]).id;
    }
    render();
    document.body.dataset.version = String(state.version);
  } catch (e) {
    document.getElementById("connection").textContent = "sandbox server unreachable: retrying…";
  } finally {
    S.fetching = false;
    if (S.again) { S.again = false; refresh(); }
  }
}

// As in Slack, a reload ends what belonged to the page before it: ephemeral replies are gone and an open modal closes.
function forgetPreviousPage(state) {
  for (const ch of state.channels) for (const e of ch.ephemerals) S.dismissed.add(e.ts);
  if (state.modal) {
    const id = state.modal.id;
    state.modal = null;
    api("close", { view_id: id }).then(() => refresh());
  }
}

function listen() {
  let timer = null;
  const source = new EventSource("/sandbox/api/events");
  source.addEventListener("version", (e) => {
    if (Number(e.data) === S.version) return;
    clearTimeout(timer);
    timer = setTimeout(refresh, 60);
  });
  source.onerror = () => { setTimeout(refresh, 1000); };
}

function composerKeys(input, form) {
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
  });
  input.addEventListener("input", () => { input.style.height = "auto"; input.style.height = input.scrollHeight + "px"; });
}

function start() {
  const form = document.getElementById("composer");
  const input = document.getElementById("composer-input");
  composerKeys(input, form);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const text = input.value;
    input.value = "";
    input.style.height = "auto";
    // As in Slack, sending takes the channel to its newest message, where the answer will appear.
    const pane = document.getElementById("messages");
    pane.scrollTop = pane.scrollHeight;
    sendComposer(text, S.current, null);
  });
  // A channel at its newest message stays there while its pane changes size (a thread pane opening beside it).
  const pane = document.getElementById("messages");
  let paneAtBottom = true;
  pane.addEventListener("scroll", () => { paneAtBottom = atBottom(pane); });
  new ResizeObserver(() => { if (paneAtBottom) pane.scrollTop = pane.scrollHeight; }).observe(pane);
  const tform = document.getElementById("thread-composer");
  const tinput = document.getElementById("thread-input");
  composerKeys(tinput, tform);
  tform.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!S.thread) return;
    const text = tinput.value;
    tinput.value = "";
    sendComposer(text, S.thread.channel, S.thread.ts);
  });
  document.getElementById("find-run").addEventListener("click", () => shortcut({ callback_id: "runbot_find_run" }));
  document.getElementById("thread-close").addEventListener("click", () => {
    if (S.thread) S.thread = null; else S.split = null;
    render();
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") document.getElementById("confirm-root").innerHTML = "";
  });
  fromLocation();
  refresh();
  listen();
  // Also re-renders relative dates ("3 minutes ago") and catches up if the event stream dropped.
  setInterval(() => { if (document.visibilityState === "visible") refresh(); }, 15000);
}

start();
