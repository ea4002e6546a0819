/* The sandbox page: Slack for Roost, drawn from /sandbox/api/state and acting through
 * the page's JSON endpoints (sandbox/page.py). Plain JS, no build step, no framework.
 *
 * Every string from the server reaches the DOM as text (textContent, createTextNode):
 * never innerHTML, so a post or a name holding HTML shows as that HTML, written out.
 *
 * Stable hooks for the browser tests (data-test="..."):
 *   banner                          the "Sandbox: nothing reaches Slack or X" banner
 *   person-picker                   <select> "You are:" (option values are Slack user ids)
 *   nav-channel [data-id]           a channel in the sidebar; nav-dm [data-id] the DM; nav-home
 *   main-title                      the open channel's name, or "Home"
 *   messages                        the open channel's messages
 *   message [data-ts]               a message or card (its thread replies in the thread pane)
 *   ephemeral [data-id]             a message only the person sees ("Only visible to you")
 *   open-thread [data-ts]           "Reply in thread" / "N replies" under a message
 *   thread, thread-close            the thread pane; its messages are data-test="message"
 *   thread-composer, thread-send    typing in the thread (a reply, or "@someone" to assign)
 *   command-form, command-box, command-send
 *                                   the channel's composer: "/roost …" runs the command,
 *                                   anything else is a message in the channel
 *   home                            the App Home
 *   block [data-block-id] [data-block-type]    any Block Kit block
 *   element [data-action-id] [data-type]       any interactive element (button, select, …)
 *   confirm, confirm-yes, confirm-no           a button's confirmation dialog
 *   modal-overlay, modal [data-view-id] [data-callback-id]   the open modal (top of the stack)
 *   modal-title, modal-submit, modal-cancel, modal-close
 *   input [data-block-id] [data-action-id]     a modal input's control
 *   input-error [data-block-id]                an error Roost sent under an input
 *   notice                          an error talking to Roost (e.g. HTTP 500)
 *   error                           the page's own error (a 400 explained)
 *   x-panel, x-brand [data-brand]   the brand's X; x-post [data-kind] [data-id] a timeline entry
 *                                   (kind: mention, reply, post, retweet, dm); cotag its CoTag
 *   mention-form, mention-brand, mention-author, mention-name, mention-text, mention-send
 *   switch [data-switch]            checkbox: rate_limit, revoked, outage
 *   scenarios, scenario [data-name], scenario-speed, scenario-start, scenario-stop,
 *   scenario-progress
 */
"use strict";

(function () {
  const EMOJI = {
    eyes: "👀", white_check_mark: "✅", heavy_check_mark: "✔️", x: "❌", warning: "⚠️",
    bell: "🔔", speech_balloon: "💬", envelope: "✉️", email: "📧", repeat: "🔁",
    arrows_counterclockwise: "🔄", bust_in_silhouette: "👤", busts_in_silhouette: "👥",
    hourglass: "⌛", hourglass_flowing_sand: "⏳", clock1: "🕐", alarm_clock: "⏰",
    calendar: "📆", date: "📅", pushpin: "📌", memo: "📝", pencil: "📝", pencil2: "✏️",
    rotating_light: "🚨", fire: "🔥", tada: "🎉", thumbsup: "👍", "+1": "👍",
    thumbsdown: "👎", "-1": "👎", wave: "👋", pray: "🙏", heart: "❤️", star: "⭐",
    sparkles: "✨", rocket: "🚀", link: "🔗", lock: "🔒", unlock: "🔓", key: "🔑",
    no_entry: "⛔", no_entry_sign: "🚫", question: "❓", exclamation: "❗",
    information_source: "ℹ️", bulb: "💡", chart_with_upwards_trend: "📈",
    bar_chart: "📊", inbox_tray: "📥", outbox_tray: "📤", mailbox: "📫",
    mega: "📣", loudspeaker: "📢", bird: "🐦", hatching_chick: "🐣", house: "🏠",
    zzz: "💤", sleeping: "😴", smile: "😄", slightly_smiling_face: "🙂",
    disappointed: "😞", angry: "😠", rage: "😡", cry: "😢", red_circle: "🔴",
    large_green_circle: "🟢", large_yellow_circle: "🟡", large_blue_circle: "🔵",
    white_circle: "⚪", black_circle: "⚫", arrow_right: "➡️", arrow_left: "⬅️",
    leftwards_arrow_with_hook: "↩️", back: "🔙", globe_with_meridians: "🌐",
    mag: "🔍", gear: "⚙️", wrench: "🔧", hammer_and_wrench: "🛠️", shield: "🛡️",
    stopwatch: "⏱️", timer_clock: "⏲️", wastebasket: "🗑️", paperclip: "📎",
    camera: "📷", frame_with_picture: "🖼️", film_frames: "🎞️", kr: "🇰🇷",
    double_vertical_bar: "⏸️", grey_question: "❔", money_with_wings: "💸", newspaper: "📰",
    see_no_evil: "🙈", sunny: "☀️",
  };

  // --- state -------------------------------------------------------------------

  const params = new URLSearchParams(window.location.search);
  let state = null;
  let version = 0;
  let you = params.get("as") || window.localStorage.getItem("roost-sandbox-as") || "";
  let place = { kind: "channel", id: null };
  let threadTs = null;
  let polling = 0; // a generation: a new person restarts the long-poll
  let shownModal = ""; // what the modal on screen was drawn from: id, hash, errors

  // --- small DOM helpers (text only) -------------------------------------------------

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = String(value);
      else if (name === "className") node.className = value;
      else if (name === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children || []) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function $(id) {
    return document.getElementById(id);
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function toast(text, test) {
    const item = el("div", { className: "toast " + test, dataset: { test: test }, text: text });
    item.addEventListener("click", () => item.remove());
    $("toasts").append(item);
    window.setTimeout(() => item.remove(), 8000);
  }

  // --- talking to the page's server ------------------------------------------------------

  async function post(name, body) {
    let answer;
    try {
      answer = await fetch("api/" + name, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ as: you, ...body }),
      });
    } catch (failure) {
      toast("The sandbox did not answer: is `make run` still running?", "error");
      return null;
    }
    const json = await answer.json().catch(() => ({ error: "The sandbox answered " + answer.status }));
    if (!answer.ok) {
      toast(json.error || "Refused (" + answer.status + ")", "error");
      return null;
    }
    return json;
  }

  async function poll(generation) {
    while (generation === polling) {
      try {
        const answer = await fetch(
          "api/state?as=" + encodeURIComponent(you) + "&since=" + version
        );
        if (generation !== polling) return;
        if (!answer.ok) {
          const json = await answer.json().catch(() => ({}));
          if (json.error && you) {
            you = "";
            version = 0;
            continue; // an unknown person: start over as the default one
          }
          await pause(1000);
          continue;
        }
        const next = await answer.json();
        if (generation !== polling) return;
        version = next.version;
        state = next;
        render();
      } catch (problem) {
        await pause(1000); // the sandbox is restarting or gone; try again quietly
      }
    }
  }

  function pause(ms) {
    return new Promise((resolve) => window.setTimeout(resolve, ms));
  }

  function restart() {
    polling += 1;
    version = 0;
    poll(polling);
  }

  // --- mrkdwn, as Slack shows it ------------------------------------------------------

  function decode(text) {
    return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  }

  function userName(id) {
    const user = state && state.users.find((u) => u.id === id);
    return user ? user.name : id;
  }

  function channelName(id) {
    const channel = state && state.channels.find((c) => c.id === id);
    return channel ? channel.name : id;
  }

  function emojify(text) {
    return text.replace(/:([a-z0-9_+\-]+):/g, (whole, name) => EMOJI[name] || whole);
  }

  function safeHref(url) {
    return /^(https?:|mailto:)/i.test(url) ? url : null;
  }

  // X's addresses lead to the brand's X on this page, never to the real X: a post to its
  // entry in the timeline, a profile nowhere (its name stays, as text).
  const X_POST = /^https?:\/\/(?:www\.)?(?:x|twitter)\.com\/[^/]+\/status\/(\d+)/i;
  const X_ANYTHING = /^https?:\/\/(?:www\.)?(?:x|twitter)\.com(?:\/|$)/i;

  function link(url, label) {
    const post = X_POST.exec(url);
    if (post) {
      const shown = el("a", { href: "#", className: "x-link", title: "On the brand's X, to the right", text: label });
      shown.addEventListener("click", (event) => {
        event.preventDefault();
        showOnX(post[1]);
      });
      return shown;
    }
    if (X_ANYTHING.test(url)) return el("span", { className: "x-link", text: label });
    const href = safeHref(url);
    if (!href) return el("span", { text: label });
    return el("a", { href: href, target: "_blank", rel: "noopener noreferrer", text: label });
  }

  function showOnX(postId) {
    const entry = document.querySelector('[data-test=x-post][data-id="' + CSS.escape(postId) + '"]');
    if (!entry) {
      toast("That post is not on the brand's X timeline here.", "error");
      return;
    }
    entry.scrollIntoView({ block: "center" });
    entry.classList.add("x-flash");
    window.setTimeout(() => entry.classList.remove("x-flash"), 1500);
  }

  // <...> tokens: mentions, channels, specials and links.
  function slackToken(inner) {
    const [target, label] = splitOnce(inner, "|");
    if (target.startsWith("@")) {
      return el("span", { className: "mention", text: "@" + (label || userName(target.slice(1))) });
    }
    if (target.startsWith("#")) {
      return el("span", { className: "mention", text: "#" + (label || channelName(target.slice(1))) });
    }
    if (target.startsWith("!")) {
      const special = target.slice(1).split("^")[0];
      if (["here", "channel", "everyone"].includes(special)) {
        return el("span", { className: "mention", text: "@" + special });
      }
      return el("span", { text: decode(label || special) });
    }
    return link(decode(target), decode(label || target));
  }

  function splitOnce(text, separator) {
    const at = text.indexOf(separator);
    return at < 0 ? [text, ""] : [text.slice(0, at), text.slice(at + 1)];
  }

  const INLINE = new RegExp(
    [
      "<([^<>\\n]+)>", // 1: a Slack token
      "`([^`\\n]+)`", // 2: code
      "(^|[^\\w*])\\*([^*\\n]+)\\*(?![\\w*])", // 3, 4: bold
      "(^|[^\\w_])_([^_\\n]+)_(?![\\w_])", // 5, 6: italic
      "(^|[^\\w~])~([^~\\n]+)~(?![\\w~])", // 7, 8: strike
    ].join("|"),
    "g"
  );

  function inline(text) {
    const nodes = [];
    const pattern = new RegExp(INLINE.source, "g"); // its own: bold may hold italic
    let at = 0;
    let found;
    while ((found = pattern.exec(text)) !== null) {
      const lead = found[3] || found[5] || found[7] || "";
      const start = found.index + lead.length;
      if (start > at || lead) nodes.push(document.createTextNode(emojify(decode(text.slice(at, start)))));
      if (found[1] !== undefined) nodes.push(slackToken(found[1]));
      else if (found[2] !== undefined) nodes.push(el("code", { text: decode(found[2]) }));
      else if (found[4] !== undefined) nodes.push(el("b", {}, inline(found[4])));
      else if (found[6] !== undefined) nodes.push(el("i", {}, inline(found[6])));
      else if (found[8] !== undefined) nodes.push(el("s", {}, inline(found[8])));
      at = pattern.lastIndex;
    }
    if (at < text.length) nodes.push(document.createTextNode(emojify(decode(text.slice(at)))));
    return nodes;
  }

  function mrkdwn(text) {
    const box = el("div", { className: "mrkdwn" });
    const parts = String(text).split("```");
    parts.forEach((part, index) => {
      if (index % 2 === 1) {
        box.append(el("pre", { text: decode(part.replace(/^\n/, "")) }));
        return;
      }
      const lines = part.split("\n");
      let quote = null;
      lines.forEach((line, number) => {
        const quoted = /^(&gt;|>)\s?/.exec(line);
        if (quoted) {
          if (!quote) {
            quote = el("blockquote");
            box.append(quote);
          } else {
            quote.append(el("br"));
          }
          quote.append(...inline(line.slice(quoted[0].length)));
          return;
        }
        quote = null;
        box.append(...inline(line));
        if (number < lines.length - 1) box.append(el("br"));
      });
    });
    return box;
  }

  function textObject(object, className) {
    if (!object) return el("span");
    if (object.type === "mrkdwn") {
      const node = mrkdwn(object.text || "");
      if (className) node.classList.add(className);
      return node;
    }
    const text = object.emoji === false ? object.text || "" : emojify(object.text || "");
    return el("span", { className: className || "plain", text: text });
  }

  function plain(object) {
    return object && object.text ? emojify(String(object.text)) : "";
  }

  // --- Block Kit ------------------------------------------------------------------------

  // ctx: {container, inModal, values (view's typed values), errors}
  function renderBlocks(blocks, ctx) {
    const box = el("div", { className: "blocks" });
    (blocks || []).forEach((block, index) => {
      const node = renderBlock(block, index, ctx);
      if (node) box.append(node);
    });
    return box;
  }

  function blockBox(block, index, children) {
    return el(
      "div",
      {
        className: "block block-" + block.type,
        dataset: { test: "block", blockId: block.block_id || "", blockType: block.type, index: index },
      },
      children
    );
  }

  function renderBlock(block, index, ctx) {
    switch (block.type) {
      case "section": {
        const body = el("div", { className: "section-body" });
        if (block.text) body.append(textObject(block.text));
        if (block.fields) {
          body.append(el("div", { className: "fields" }, block.fields.map((f) => textObject(f))));
        }
        const children = [body];
        if (block.accessory) children.push(renderElement(block.accessory, block, index, ctx));
        return blockBox(block, index, children);
      }
      case "context":
        return blockBox(
          block,
          index,
          (block.elements || []).map((item) =>
            item.type === "image"
              ? el("span", { className: "image-ph", title: item.alt_text || "", text: "🖼" })
              : textObject(item, "context-text")
          )
        );
      case "actions":
        return blockBox(block, index, (block.elements || []).map((e) => renderElement(e, block, index, ctx)));
      case "divider":
        return blockBox(block, index, [el("hr")]);
      case "header":
        return blockBox(block, index, [el("h3", { text: plain(block.text) })]);
      case "image":
        return blockBox(block, index, [
          el("div", { className: "image-block" }, [
            block.title ? el("div", { className: "image-title", text: plain(block.title) }) : null,
            el("div", { className: "image-ph large", text: "🖼 " + (block.alt_text || "image") }),
          ]),
        ]);
      case "input":
        return renderInput(block, index, ctx);
      case "rich_text":
        return blockBox(block, index, (block.elements || []).map(richPart));
      default:
        return blockBox(block, index, [el("div", { className: "unknown", text: "[" + block.type + " block]" })]);
    }
  }

  function richPart(part) {
    const inlineNodes = () => (part.elements || []).map(richInline);
    switch (part.type) {
      case "rich_text_preformatted":
        return el("pre", {}, inlineNodes());
      case "rich_text_quote":
        return el("blockquote", {}, inlineNodes());
      case "rich_text_list":
        return el(part.style === "ordered" ? "ol" : "ul", {}, (part.elements || []).map((item) => el("li", {}, [richPart(item)])));
      default:
        return el("div", {}, inlineNodes());
    }
  }

  function richInline(item) {
    let node;
    if (item.type === "link") node = link(item.url || "", item.text || item.url || "");
    else if (item.type === "user") node = el("span", { className: "mention", text: "@" + userName(item.user_id) });
    else if (item.type === "channel") node = el("span", { className: "mention", text: "#" + channelName(item.channel_id) });
    else if (item.type === "broadcast") node = el("span", { className: "mention", text: "@" + item.range });
    else if (item.type === "emoji") node = el("span", { text: EMOJI[item.name] || ":" + item.name + ":" });
    else node = el("span", { text: item.text || "" });
    const style = item.style || {};
    if (style.code) node = el("code", {}, [node]);
    if (style.bold) node = el("b", {}, [node]);
    if (style.italic) node = el("i", {}, [node]);
    if (style.strike) node = el("s", {}, [node]);
    return node;
  }

  function option(opt) {
    return el("option", { value: opt.value, text: plain(opt.text) });
  }

  function allOptions(element) {
    let options = (element.options || []).slice();
    for (const group of element.option_groups || []) options = options.concat(group.options || []);
    return options;
  }

  function selectOf(element, entries, placeholder, multiple) {
    const select = el("select", { multiple: multiple || null });
    if (!multiple) select.append(el("option", { value: "", text: placeholder || "Choose…" }));
    for (const [value, label] of entries) select.append(el("option", { value: value, text: label }));
    return select;
  }

  function people() {
    return (state.users || []).filter((u) => !u.is_bot).map((u) => [u.id, u.real_name || u.name]);
  }

  function conversations() {
    return (state.channels || []).filter((c) => !c.is_im).map((c) => [c.id, "#" + c.name]);
  }

  // The control for an element; `onPick(value)` dispatches a block action where Slack would.
  function control(element, onPick) {
    const kind = element.type;
    const placeholder = plain(element.placeholder);
    let node;
    if (kind === "button") {
      node = el("button", { type: "button", className: "btn " + (element.style || ""), text: plain(element.text) });
      const press = () => {
        // A link button opens its address, as Slack does, and still tells the app.
        const href = element.url ? safeHref(element.url) : null;
        if (href) window.open(href, "_blank", "noopener");
        onPick(undefined);
      };
      node.addEventListener("click", () => {
        if (element.confirm) askConfirm(element.confirm, press);
        else press();
      });
      return node;
    }
    if (kind === "static_select" || kind === "multi_static_select" || kind === "external_select") {
      const multiple = kind === "multi_static_select";
      node = selectOf(element, allOptions(element).map((o) => [o.value, plain(o.text)]), placeholder, multiple);
      const initial = element.initial_option ? [element.initial_option] : element.initial_options || [];
      for (const opt of node.options) opt.selected = initial.some((i) => i.value === opt.value);
    } else if (kind === "overflow") {
      node = selectOf(element, allOptions(element).map((o) => [o.value, plain(o.text)]), "⋯");
      node.classList.add("overflow");
    } else if (kind === "users_select" || kind === "multi_users_select") {
      const multiple = kind === "multi_users_select";
      node = selectOf(element, people(), placeholder || "Pick someone", multiple);
      const initial = element.initial_user ? [element.initial_user] : element.initial_users || [];
      for (const opt of node.options) opt.selected = initial.includes(opt.value);
    } else if (/(conversations|channels)_select$/.test(kind)) {
      const multiple = kind.startsWith("multi_");
      node = selectOf(element, conversations(), placeholder || "Pick a channel", multiple);
      const initial = element.initial_conversation || element.initial_channel;
      const initials = initial ? [initial] : element.initial_conversations || element.initial_channels || [];
      for (const opt of node.options) opt.selected = initials.includes(opt.value);
    } else if (kind === "datepicker") {
      node = el("input", { type: "date", value: element.initial_date || "" });
    } else if (kind === "timepicker") {
      node = el("input", { type: "time", value: element.initial_time || "" });
    } else if (kind === "plain_text_input" || kind === "url_text_input" || kind === "email_text_input" || kind === "number_input") {
      const types = { url_text_input: "url", email_text_input: "email", number_input: "number" };
      node = element.multiline
        ? el("textarea", { rows: 4, placeholder: placeholder })
        : el("input", { type: types[kind] || "text", placeholder: placeholder });
      node.value = element.initial_value || "";
      if (element.max_length) node.setAttribute("maxlength", element.max_length);
    } else if (kind === "checkboxes" || kind === "radio_buttons") {
      node = el("div", { className: "choices" });
      const group = "g" + Math.random().toString(36).slice(2);
      const initial = element.initial_option ? [element.initial_option] : element.initial_options || [];
      for (const opt of element.options || []) {
        const box = el("input", {
          type: kind === "checkboxes" ? "checkbox" : "radio",
          name: group,
          value: opt.value,
        });
        box.checked = initial.some((i) => i.value === opt.value);
        box.addEventListener("change", () => onPick(readChoices(node)));
        node.append(el("label", { className: "choice" }, [box, " ", textObject(opt.text)]));
        if (opt.description) node.append(el("div", { className: "hint" }, [textObject(opt.description)]));
      }
      return node;
    } else if (kind === "file_input") {
      return el("div", { className: "hint", text: "Attaching files is not part of the sandbox." });
    } else {
      return el("span", { className: "unknown", text: "[" + kind + "]" });
    }
    node.addEventListener("change", () => {
      if (node.multiple) onPick(Array.from(node.selectedOptions).map((o) => o.value));
      else if (node.value !== "") onPick(node.value);
    });
    return node;
  }

  function readChoices(node) {
    return Array.from(node.querySelectorAll("input")).filter((i) => i.checked).map((i) => i.value);
  }

  function renderElement(element, block, index, ctx) {
    const node = control(element, (value) => {
      if (element.type === "overflow" || element.type === "static_select") {
        if (value === undefined || value === "") return;
      }
      const pick = element.type === "radio_buttons" ? value[0] : value;
      act(ctx, block, index, element, pick);
      if (element.type === "overflow") node.value = "";
    });
    if (element.type === "button") {
      Object.assign(node.dataset, { test: "element", actionId: element.action_id || "", type: "button" });
      return node;
    }
    const box = el("span", {
      className: "element",
      dataset: { test: "element", actionId: element.action_id || "", type: element.type },
    });
    box.append(node);
    return box;
  }

  function act(ctx, block, index, element, value) {
    post("action", {
      container: ctx.container,
      block_index: index,
      block_id: block.block_id || null,
      action_id: element.action_id,
      value: value,
      values: ctx.inModal ? modalValues() : undefined,
    });
  }

  function askConfirm(confirm, proceed) {
    const overlay = $("confirm-overlay");
    clear(overlay);
    const close = () => {
      overlay.hidden = true;
      clear(overlay);
    };
    const yes = el("button", { type: "button", className: "btn primary", dataset: { test: "confirm-yes" }, text: plain(confirm.confirm) || "Yes" });
    const no = el("button", { type: "button", className: "btn", dataset: { test: "confirm-no" }, text: plain(confirm.deny) || "Cancel" });
    yes.addEventListener("click", () => {
      close();
      proceed();
    });
    no.addEventListener("click", close);
    overlay.append(
      el("div", { className: "modal confirm", dataset: { test: "confirm" } }, [
        el("h3", { text: plain(confirm.title) }),
        textObject(confirm.text),
        el("div", { className: "modal-buttons" }, [no, yes]),
      ])
    );
    overlay.hidden = false;
  }

  // --- modal inputs -------------------------------------------------------------------

  function renderInput(block, index, ctx) {
    const element = block.element || {};
    const node = control(element, (value) => {
      if (element.dispatch_action) act(ctx, block, index, element, element.type === "radio_buttons" ? value[0] : value);
    });
    node.dataset.test = "input";
    node.dataset.blockId = block.block_id || "";
    node.dataset.actionId = element.action_id || "";
    node.dataset.type = element.type || "";
    node.dataset.elementIndex = String(index);
    const error = (ctx.errors || {})[block.block_id];
    return blockBox(block, index, [
      el("label", { className: "input-label" }, [
        plain(block.label),
        block.optional ? el("span", { className: "optional", text: " (optional)" }) : null,
      ]),
      node,
      block.hint ? el("div", { className: "hint", text: plain(block.hint) }) : null,
      error ? el("div", { className: "input-error", dataset: { test: "input-error", blockId: block.block_id }, text: error }) : null,
    ]);
  }

  // state.values of the open modal, from what is typed and picked in it.
  function modalValues() {
    const modal = document.querySelector("[data-test=modal]");
    const values = {};
    if (!modal) return values;
    const view = topModal();
    for (const node of modal.querySelectorAll("[data-test=input]")) {
      const block = view && view.blocks[Number(node.dataset.elementIndex)];
      if (!block || !block.element) continue;
      const element = block.element;
      const value = elementState(element, node);
      if (value === null) continue;
      const blockId = block.block_id || "sandbox-" + node.dataset.elementIndex;
      values[blockId] = values[blockId] || {};
      values[blockId][element.action_id || "sandbox-action"] = value;
    }
    return values;
  }

  function elementState(element, node) {
    const kind = element.type;
    const pickOptions = (chosen) => allOptions(element).filter((o) => chosen.includes(o.value));
    if (/text_input$|^number_input$/.test(kind)) return { type: kind, value: node.value === "" ? null : node.value };
    if (kind === "static_select" || kind === "external_select") {
      return { type: kind, selected_option: pickOptions([node.value])[0] || null };
    }
    if (kind === "multi_static_select") {
      return { type: kind, selected_options: pickOptions(Array.from(node.selectedOptions).map((o) => o.value)) };
    }
    if (kind === "checkboxes") return { type: kind, selected_options: pickOptions(readChoices(node)) };
    if (kind === "radio_buttons") return { type: kind, selected_option: pickOptions(readChoices(node))[0] || null };
    if (kind === "users_select") return { type: kind, selected_user: node.value || null };
    if (kind === "multi_users_select") return { type: kind, selected_users: Array.from(node.selectedOptions).map((o) => o.value) };
    if (kind === "conversations_select") return { type: kind, selected_conversation: node.value || null };
    if (kind === "channels_select") return { type: kind, selected_channel: node.value || null };
    if (kind === "multi_conversations_select") return { type: kind, selected_conversations: Array.from(node.selectedOptions).map((o) => o.value) };
    if (kind === "multi_channels_select") return { type: kind, selected_channels: Array.from(node.selectedOptions).map((o) => o.value) };
    if (kind === "datepicker") return { type: kind, selected_date: node.value || null };
    if (kind === "timepicker") return { type: kind, selected_time: node.value || null };
    return null;
  }

  function topModal() {
    const modals = (state && state.modals) || [];
    return modals.length ? modals[modals.length - 1] : null;
  }

  // What a person typed survives a re-draw of the same view (Slack keeps input state).
  function typedValues(modal) {
    const kept = {};
    for (const node of modal.querySelectorAll("[data-test=input]")) {
      if (node.tagName === "INPUT" || node.tagName === "TEXTAREA") {
        kept[node.dataset.blockId + "/" + node.dataset.actionId] = node.value;
      } else if (node.tagName === "SELECT") {
        kept[node.dataset.blockId + "/" + node.dataset.actionId] = Array.from(node.selectedOptions).map((o) => o.value);
      }
    }
    return kept;
  }

  function restoreValues(modal, kept) {
    for (const node of modal.querySelectorAll("[data-test=input]")) {
      const value = kept[node.dataset.blockId + "/" + node.dataset.actionId];
      if (value === undefined) continue;
      if (node.tagName === "SELECT") for (const opt of node.options) opt.selected = value.includes(opt.value);
      else node.value = value;
    }
  }

  function renderModal() {
    const overlay = $("overlay");
    const view = topModal();
    const key = view ? view.id + "|" + view.hash + "|" + JSON.stringify(view.errors) : "";
    if (key === shownModal) return;
    const previous = overlay.querySelector("[data-test=modal]");
    const kept = previous && view && previous.dataset.viewId === view.id ? typedValues(previous) : {};
    shownModal = key;
    clear(overlay);
    overlay.hidden = !view;
    if (!view) return;
    const ctx = { container: { type: "view", view_id: view.id }, inModal: true, errors: view.errors };
    const cancel = el("button", { type: "button", className: "btn", dataset: { test: "modal-cancel" }, text: plain(view.close) || "Cancel" });
    cancel.addEventListener("click", () => post("close", { view_id: view.id, values: modalValues() }));
    const close = el("button", { type: "button", className: "close", dataset: { test: "modal-close" }, "aria-label": "Close", text: "×" });
    close.addEventListener("click", () => post("close", { view_id: view.id, values: modalValues() }));
    const buttons = el("div", { className: "modal-buttons" }, [cancel]);
    if (view.submit) {
      const submit = el("button", { type: "button", className: "btn primary", dataset: { test: "modal-submit" }, text: plain(view.submit) });
      submit.addEventListener("click", () => post("submit", { view_id: view.id, values: modalValues() }));
      buttons.append(submit);
    }
    const modal = el(
      "div",
      {
        className: "modal",
        role: "dialog",
        dataset: { test: "modal", viewId: view.id, callbackId: view.callback_id || "", depth: String(state.modals.length) },
      },
      [
        el("header", { className: "modal-header" }, [el("h2", { dataset: { test: "modal-title" }, text: plain(view.title) }), close]),
        el("div", { className: "modal-body" }, [renderBlocks(view.blocks, ctx)]),
        buttons,
      ]
    );
    overlay.append(modal);
    restoreValues(modal, kept);
  }

  // --- messages ---------------------------------------------------------------------

  function timeOf(ts) {
    const date = new Date(Number(ts) * 1000);
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function renderMessage(message, inThread) {
    const ctx = { container: { type: "message", channel: message.channel, ts: message.ts } };
    const author = userName(message.user);
    const children = [
      el("div", { className: "meta" }, [
        el("span", { className: "author", text: author }),
        message.user === state.team.bot_user_id ? el("span", { className: "app-badge", text: "APP" }) : null,
        el("span", { className: "time", text: timeOf(message.ts) }),
        message.edited ? el("span", { className: "edited", text: "(edited)" }) : null,
      ]),
    ];
    if (message.blocks && message.blocks.length) children.push(renderBlocks(message.blocks, ctx));
    else children.push(mrkdwn(message.text || ""));
    for (const file of message.files || []) {
      children.push(
        file.image
          ? el("img", { className: "file-image", src: "/sandbox/api/file?id=" + encodeURIComponent(file.id), alt: file.name, "data-test": "file" })
          : el("div", { className: "file", text: "📎 " + file.name, "data-test": "file" }),
      );
    }
    if (!inThread) {
      const count = (message.replies || []).length;
      const opener = el("button", {
        type: "button",
        className: "link-button",
        dataset: { test: "open-thread", ts: message.ts },
        text: count ? count + (count === 1 ? " reply" : " replies") : "Reply in thread",
      });
      opener.addEventListener("click", () => {
        threadTs = message.ts;
        render();
      });
      children.push(opener);
    }
    return el("div", { className: "message", dataset: { test: "message", ts: message.ts, user: message.user } }, children);
  }

  function renderEphemeral(ephemeral) {
    const ctx = { container: { type: "ephemeral", id: ephemeral.id } };
    return el("div", { className: "message ephemeral", dataset: { test: "ephemeral", id: String(ephemeral.id) } }, [
      el("div", { className: "meta" }, [
        el("span", { className: "author", text: userName(state.team.bot_user_id) }),
        el("span", { className: "app-badge", text: "APP" }),
        el("span", { className: "only-you", text: ephemeral.in_channel ? "" : "Only visible to you" }),
      ]),
      ephemeral.blocks && ephemeral.blocks.length ? renderBlocks(ephemeral.blocks, ctx) : mrkdwn(ephemeral.text),
    ]);
  }

  function byTs(a, b) {
    return Number(a.ts) - Number(b.ts);
  }

  function keepScroll(box, draw) {
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    const top = box.scrollTop;
    draw();
    box.scrollTop = atBottom ? box.scrollHeight : top;
  }

  function renderMain() {
    const box = $("messages");
    const title = $("main-title");
    const composer = $("composer");
    if (place.kind === "home") {
      title.textContent = "Home";
      composer.hidden = true;
      keepScroll(box, () => {
        clear(box);
        const home = state.home;
        const ctx = { container: home ? { type: "view", view_id: home.id } : null };
        box.append(
          el("div", { className: "home", dataset: { test: "home" } }, [
            home ? renderBlocks(home.blocks, ctx) : el("p", { className: "hint", text: "Roost has not published your Home yet." }),
          ])
        );
      });
      return;
    }
    const channel = state.channels.find((c) => c.id === place.id);
    composer.hidden = !channel;
    if (!channel) {
      title.textContent = "";
      clear(box);
      return;
    }
    title.textContent = channel.is_im ? "Roost (direct message)" : "#" + channel.name;
    const items = channel.messages.map((m) => ({ ts: m.ts, node: () => renderMessage(m, false) }));
    for (const e of state.ephemerals) {
      if (e.channel === channel.id && !e.thread_ts) items.push({ ts: e.ts, node: () => renderEphemeral(e) });
    }
    items.sort(byTs);
    keepScroll(box, () => {
      clear(box);
      if (!items.length) box.append(el("p", { className: "hint", text: "No messages yet." }));
      for (const item of items) box.append(item.node());
    });
  }

  function renderThread() {
    const pane = $("thread");
    const channel = place.kind === "channel" && state.channels.find((c) => c.id === place.id);
    const parent = channel && threadTs && channel.messages.find((m) => m.ts === threadTs);
    pane.hidden = !parent;
    if (!parent) return;
    const box = $("thread-messages");
    const items = parent.replies.map((m) => ({ ts: m.ts, node: () => renderMessage(m, true) }));
    for (const e of state.ephemerals) {
      if (e.channel === channel.id && e.thread_ts === threadTs) items.push({ ts: e.ts, node: () => renderEphemeral(e) });
    }
    items.sort(byTs);
    keepScroll(box, () => {
      clear(box);
      box.append(renderMessage(parent, true));
      box.append(el("div", { className: "thread-count", text: parent.replies.length + " replies" }));
      for (const item of items) box.append(item.node());
    });
  }

  function renderSidebar() {
    const picker = $("person");
    if (picker.dataset.people !== JSON.stringify(state.people)) {
      clear(picker);
      for (const id of state.people) picker.append(el("option", { value: id, text: userName(id) }));
      picker.dataset.people = JSON.stringify(state.people);
    }
    picker.value = state.you;
    const apps = $("apps");
    clear(apps);
    apps.append(navItem("nav-home", "home", "🏠 Roost — Home", place.kind === "home"));
    const channels = $("channels");
    const dms = $("dms");
    clear(channels);
    clear(dms);
    for (const channel of state.channels) {
      const active = place.kind === "channel" && place.id === channel.id;
      if (channel.is_im) dms.append(navItem("nav-dm", channel.id, "Roost", active));
      else channels.append(navItem("nav-channel", channel.id, (channel.is_private ? "🔒 " : "# ") + channel.name, active));
    }
  }

  function navItem(test, id, label, active) {
    const button = el("button", { type: "button", className: "nav" + (active ? " active" : ""), dataset: { test: test, id: id }, text: label });
    button.addEventListener("click", () => {
      place = id === "home" ? { kind: "home" } : { kind: "channel", id: id };
      threadTs = null;
      if (id === "home") post("home", {}); // Slack's app_home_opened: Roost draws the Home
      render();
    });
    return el("li", {}, [button]);
  }

  function renderNotices() {
    const box = $("toasts");
    for (const notice of state.notices) {
      if (box.querySelector('[data-notice="' + notice.id + '"]')) continue;
      if (Number(notice.id) <= Number(box.dataset.lastNotice || 0)) continue;
      const item = el("div", { className: "toast notice", dataset: { test: "notice", notice: String(notice.id) }, text: notice.text });
      item.addEventListener("click", () => item.remove());
      box.append(item);
    }
    const ids = state.notices.map((n) => Number(n.id));
    box.dataset.lastNotice = String(Math.max(Number(box.dataset.lastNotice || 0), ...ids, 0));
  }

  // --- the brand's X ----------------------------------------------------------------------

  const KIND_LABELS = { mention: "mentions", reply: "replied", post: "posted", retweet: "retweeted", dm: "DM" };

  function renderX() {
    const x = state.x;
    const brandSelect = $("mention-brand");
    // X's accounts, then the brand's accounts on the other networks (their cards come the same way).
    const options = x.brands
      .map((b) => ({ value: b.username, label: "@" + b.username }))
      .concat((x.elsewhere || []).map((a) => ({ value: a.value, label: a.label })));
    if (brandSelect.dataset.brands !== JSON.stringify(options)) {
      clear(brandSelect);
      for (const option of options) brandSelect.append(el("option", { value: option.value, text: option.label }));
      brandSelect.dataset.brands = JSON.stringify(options);
    }
    const customers = $("customers");
    clear(customers);
    for (const name of x.customers) customers.append(el("option", { value: name }));
    for (const box of document.querySelectorAll("[data-test=switch]")) box.checked = Boolean(x.switches[box.dataset.switch]);
    const timelines = $("timelines");
    clear(timelines);
    for (const brand of x.brands) {
      const list = el("ol", { className: "timeline" });
      for (const entry of brand.timeline) {
        let text = entry.text;
        const parts = [];
        if (entry.cotag && text.endsWith(entry.cotag)) text = text.slice(0, -entry.cotag.length);
        parts.push(el("div", { className: "x-meta" }, [
          el("span", { className: "x-author", text: "@" + entry.author }),
          el("span", { className: "x-kind", text: entry.kind === "dm" ? "DM to @" + entry.to : KIND_LABELS[entry.kind] }),
          el("span", { className: "time", text: entry.created_at ? new Date(entry.created_at).toLocaleTimeString() : "" }),
        ]));
        parts.push(el("div", { className: "x-text" }, [
          text,
          entry.cotag ? el("span", { className: "cotag", dataset: { test: "cotag" }, text: entry.cotag }) : null,
        ]));
        list.append(el("li", { className: "x-post x-" + entry.kind, dataset: { test: "x-post", kind: entry.kind, id: entry.id } }, parts));
      }
      if (!brand.timeline.length) list.append(el("li", { className: "hint", text: "Nothing on X yet." }));
      timelines.append(el("section", { className: "x-brand", dataset: { test: "x-brand", brand: brand.username } }, [el("h3", { text: "@" + brand.username }), list]));
    }
    renderScenarios();
  }

  function renderScenarios() {
    const box = $("scenarios");
    const key = JSON.stringify(state.scenarios);
    if (box.dataset.key === key) return;
    box.dataset.key = key;
    const speeds = {};
    for (const select of box.querySelectorAll("[data-test=scenario-speed]")) speeds[select.dataset.name] = select.value;
    clear(box);
    if (!state.scenarios.length) return;
    box.append(el("h3", { text: "Scenarios" }));
    for (const scenario of state.scenarios) {
      const speed = selectOf({}, state.speeds.map((s) => [String(s), s + "×"]), null, false);
      speed.removeChild(speed.firstChild);
      speed.dataset.test = "scenario-speed";
      speed.dataset.name = scenario.name;
      speed.value = speeds[scenario.name] || String(scenario.speed || state.speeds[0]);
      const start = el("button", { type: "button", className: "btn primary", dataset: { test: "scenario-start" }, text: "Start", disabled: scenario.running });
      start.addEventListener("click", () => post("scenario", { name: scenario.name, action: "start", speed: Number(speed.value) }));
      const stop = el("button", { type: "button", className: "btn", dataset: { test: "scenario-stop" }, text: "Stop", disabled: !scenario.running });
      stop.addEventListener("click", () => post("scenario", { name: scenario.name, action: "stop" }));
      const progress = scenario.sent + " of " + scenario.total + " posted" + (scenario.done ? " — done" : scenario.running ? " — running" : "");
      box.append(el("div", { className: "scenario", dataset: { test: "scenario", name: scenario.name } }, [
        el("div", { className: "scenario-title", text: scenario.title }),
        el("div", { className: "hint", text: scenario.description }),
        el("div", { className: "row" }, [speed, start, stop]),
        el("progress", { max: String(scenario.total || 1), value: String(scenario.sent) }),
        el("div", { className: "hint", dataset: { test: "scenario-progress" }, text: progress }),
      ]));
    }
  }

  // --- drawing everything --------------------------------------------------------------

  function render() {
    if (!state) return;
    you = state.you;
    window.localStorage.setItem("roost-sandbox-as", you);
    if (place.kind === "channel" && !state.channels.some((c) => c.id === place.id)) {
      const first = state.channels.find((c) => !c.is_im);
      place = first ? { kind: "channel", id: first.id } : { kind: "home" };
    }
    renderSidebar();
    renderMain();
    renderThread();
    renderModal();
    renderNotices();
    renderX();
  }

  function wire() {
    $("person").addEventListener("change", (event) => {
      you = event.target.value;
      threadTs = null;
      shownModal = "";
      if (place.kind === "home") post("home", {});
      restart();
    });
    $("composer").addEventListener("submit", async (event) => {
      event.preventDefault();
      const input = $("composer-text");
      const text = input.value.trim();
      if (!text || place.kind !== "channel") return;
      const sent = text.startsWith("/")
        ? await post("command", { channel: place.id, text: text })
        : await post("message", { channel: place.id, text: text });
      if (sent) input.value = "";
    });
    $("thread-composer-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const input = $("thread-text");
      const text = input.value.trim();
      if (!text || !threadTs) return;
      if (await post("message", { channel: place.id, thread_ts: threadTs, text: text })) input.value = "";
    });
    $("thread-close").addEventListener("click", () => {
      threadTs = null;
      render();
    });
    $("mention-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const sent = await post("x/mention", {
        brand: $("mention-brand").value,
        author: $("mention-author").value.trim().replace(/^@/, ""),
        name: $("mention-name").value.trim(),
        text: $("mention-text").value,
      });
      if (sent) $("mention-text").value = "";
    });
    for (const box of document.querySelectorAll("[data-test=switch]")) {
      box.addEventListener("change", () => post("x/switch", { switch: box.dataset.switch, on: box.checked }));
    }
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !$("confirm-overlay").hidden) {
        $("confirm-overlay").hidden = true;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    wire();
    restart();
  });
})();
