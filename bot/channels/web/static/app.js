// Houqin's browser chat. Talks to the JSON API in bot/channels/web/channel.py and keeps each demo person's
// conversation in sessionStorage. Server text only ever goes into the page as textContent.
// Outside demo mode the person is whoever signed in (a session cookie the page never sees): the page
// starts from their recent conversation kept by the server, sends the session's CSRF token with every
// change, and shows how to sign in when the server answers 401.

const UI_LOCALES = ["zh_CN", "en"];
const MAX_PHOTO = 10 * 1024 * 1024;
// Three retries after the first try; the same client_id each time, so the server dedupes them.
const RETRY_DELAYS_MS = [600, 1500, 3000];
const TRANSIENT_STATUS = new Set([502, 503, 504]);
const TOAST_MS = 3500;
const THUMB_PX = 320;
const KEEP_ENTRIES = 300;
// Notices (ticket cards, status updates) wait server-side; the page fetches them for the picked person.
const POLL_MS = 3000;
const POLL_TIMEOUT_MS = 20000;
const FLASH_MS = 1600;

const $ = (id) => document.getElementById(id);
const dom = {
  title: $("title"),
  languages: $("ui-languages"),
  actAs: $("act-as"),
  personBox: $("person-box"),
  picker: $("person-picker"),
  signout: $("signout"),
  banner: $("banner"),
  chat: $("chat"),
  status: $("status"),
  toast: $("toast"),
  composer: $("composer"),
  attach: $("attach"),
  photoInput: $("photo-input"),
  messageLabel: $("message-label"),
  input: $("message-input"),
  send: $("send"),
};

const state = {
  strings: {}, // locale -> {key: text}
  people: [],
  person: null, // the picked person's id (their demo key)
  uiLocale: "zh_CN",
  histories: new Map(), // person id -> {seq, entries}
  unread: 0, // notices that arrived for the picked person while the tab was hidden
  signedIn: false, // outside demo mode: someone is signed in here
  csrf: null, // their session's CSRF token, sent with every change
  signIn: null, // {oidc}: the sign-in instructions are showing
  oidc: false, // single sign-on is offered
};

// --- small helpers ------------------------------------------------------------------------------

function t(key) {
  return (
    state.strings[state.uiLocale]?.[key] ??
    state.strings.en?.[key] ??
    key
  );
}

function bcp47(locale) {
  return locale === "zh_CN" ? "zh-CN" : locale || "";
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function newClientId() {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  // randomUUID needs a secure context; a demo served over plain http on a LAN may not be one.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function storageGet(key) {
  try {
    return sessionStorage.getItem(key);
  } catch {
    return null;
  }
}

function storageSet(key, value) {
  try {
    sessionStorage.setItem(key, value);
    return true;
  } catch {
    return false; // storage full or disabled: the chat still works, it just will not survive a reload
  }
}

// --- per-person history -------------------------------------------------------------------------

const historyKey = (personId) => `houqin.chat.${personId}`;

function history(personId) {
  let found = state.histories.get(personId);
  if (!found) {
    found = { seq: 0, entries: [] };
    try {
      const saved = JSON.parse(storageGet(historyKey(personId)) ?? "null");
      if (saved && Array.isArray(saved.entries)) found = { seq: Number(saved.seq) || 0, entries: saved.entries };
      // A card press still waiting when the page was left is over now: its buttons are live again.
      for (const entry of found.entries) delete entry.busy;
    } catch {
      // A corrupt entry is dropped rather than breaking the page.
    }
    state.histories.set(personId, found);
  }
  return found;
}

function saveHistory(personId) {
  const kept = history(personId);
  if (kept.entries.length > KEEP_ENTRIES) kept.entries.splice(0, kept.entries.length - KEEP_ENTRIES);
  if (!storageSet(historyKey(personId), JSON.stringify(kept)) && kept.entries.length > 1) {
    // Over quota (photo thumbnails add up): keep the newer half.
    kept.entries.splice(0, Math.floor(kept.entries.length / 2));
    storageSet(historyKey(personId), JSON.stringify(kept));
  }
}

function findEntry(personId, id) {
  return history(personId).entries.find((entry) => entry.id === id) ?? null;
}

function entryNodeOf(entry) {
  return dom.chat.querySelector(`[data-entry="${entry.id}"]`);
}

function addEntry(personId, entry, { follow = true } = {}) {
  const kept = history(personId);
  kept.seq += 1;
  entry.id = kept.seq;
  kept.entries.push(entry);
  saveHistory(personId);
  if (personId === state.person) {
    dom.chat.querySelector(".empty-hint")?.remove();
    const atEnd = pinned;
    dom.chat.append(renderEntry(entry));
    if (follow || atEnd) scrollToEnd();
  }
  return entry;
}

function updateEntry(personId, entry) {
  saveHistory(personId);
  if (personId !== state.person) return;
  const node = entryNodeOf(entry);
  if (!node) return;
  if (entry.who === "bot") syncBot(node, entry);
  if (entry.who === "me" && "photo" in entry) fillPhoto(node.querySelector(".bubble"), entry);
}

// A card's new text and buttons, drawn where the card already is, with a brief highlight.
function redrawCard(personId, entry) {
  saveHistory(personId);
  if (personId !== state.person) return;
  const node = entryNodeOf(entry);
  if (!node) return;
  const hadFocus = node.contains(document.activeElement);
  const atEnd = pinned;
  const fresh = renderEntry(entry);
  fresh.classList.add("updated");
  setTimeout(() => fresh.classList.remove("updated"), FLASH_MS);
  node.replaceWith(fresh);
  if (atEnd) scrollToEnd();
  if (hadFocus) (fresh.querySelector("button.reply:not(:disabled)") ?? dom.input).focus();
}

// Disable the buttons of every earlier bubble: only the newest question can be answered. Cards and
// notices are not questions: a card's buttons act on the ticket as it is now, a notice's (a survey's
// invitation) stay usable until the server says otherwise, so neither is retired by what comes next.
function retireAll(personId) {
  for (const entry of history(personId).entries) {
    if (entry.who === "bot" && !entry.cardKey && !entry.notice && entry.buttons?.length && !entry.retired) {
      entry.retired = true;
      updateEntry(personId, entry);
    }
  }
}

// --- rendering ----------------------------------------------------------------------------------

function renderEntry(entry) {
  const node = element("div", `msg ${entry.who}`);
  node.dataset.entry = String(entry.id);
  if (entry.who === "me") {
    node.setAttribute("data-testid", "my-message");
    const bubble = element("div", "bubble");
    if ("photo" in entry) fillPhoto(bubble, entry);
    else bubble.textContent = entry.text;
    node.append(bubble);
  } else if (entry.who === "bot") {
    if (entry.cardKey) {
      node.classList.add("card");
      node.setAttribute("data-testid", "card");
      node.dataset.cardKey = entry.cardKey;
    } else {
      node.setAttribute("data-testid", "bot-message");
    }
    if (entry.lang) node.lang = bcp47(entry.lang);
    const bubble = element("div", "bubble", entry.text);
    for (const url of entry.photos ?? []) {
      const img = element("img", "thumb");
      img.src = url;
      img.alt = t("web.photo_sent");
      img.loading = "lazy";
      bubble.append(img);
    }
    for (const file of entry.files ?? []) bubble.append(renderFile(file));
    node.append(bubble);
    if (entry.buttons?.length) {
      const actions = element("div", "actions");
      for (const row of entry.buttons) {
        const line = element("div", "row");
        for (const button of row) {
          const control = element("button", "reply", button.label);
          control.type = "button";
          control.dataset.payload = button.payload;
          control.setAttribute("data-testid", "reply-button");
          line.append(control);
        }
        actions.append(line);
      }
      node.append(actions);
    }
    syncBot(node, entry);
  } else {
    node.append(element("p", "line", entry.text));
  }
  return node;
}

// A file Houqin made for this person: a chart shows in the bubble, an export is a download link.
function renderFile(file) {
  if (file.image) {
    const img = element("img", "chart");
    img.src = file.url;
    img.alt = file.name;
    img.setAttribute("data-testid", "file-image");
    // A chart arrives after its words and has its height only once loaded: stay at the newest message
    // (unless the person scrolled up to read something older). Not lazy: below the fold it would wait.
    img.addEventListener("load", () => pinned && scrollToEnd(), { once: true });
    return img;
  }
  const link = element("a", "file", file.name);
  link.href = file.url;
  link.download = file.name;
  link.setAttribute("data-testid", "file-link");
  return link;
}

// Only our own file URLs, with the fields the page uses: the server's JSON is not trusted further.
function filesOf(reply) {
  return (Array.isArray(reply.files) ? reply.files : [])
    .filter((f) => typeof f?.url === "string" && f.url.startsWith("/api/web/files/"))
    .map((f) => ({ url: f.url, name: String(f.name ?? "file"), image: f.image === true }));
}

function fillPhoto(bubble, entry) {
  bubble.classList.add("photo");
  if (typeof entry.photo === "string" && entry.photo.startsWith("data:image/")) {
    const img = element("img", "thumb");
    img.src = entry.photo; // a data: URL the page drew itself, never a server string
    img.alt = t("web.photo_sent");
    img.addEventListener("load", scrollToEnd, { once: true });
    bubble.replaceChildren(img);
  } else {
    bubble.replaceChildren(element("span", "photo-label", t("web.photo_sent")));
  }
}

function syncBot(node, entry) {
  if (entry.cardKey) {
    // A card shows the ticket's state itself; while one of its presses is on its way, it waits.
    for (const control of node.querySelectorAll("button.reply")) {
      control.disabled = Boolean(entry.busy);
      control.classList.toggle("pressed", Boolean(entry.busy) && entry.pressed === control.dataset.payload);
      control.removeAttribute("aria-pressed");
    }
    node.setAttribute("aria-busy", String(Boolean(entry.busy)));
    return;
  }
  for (const control of node.querySelectorAll("button.reply")) {
    const pressed = entry.pressed === control.dataset.payload;
    control.disabled = Boolean(entry.retired);
    control.classList.toggle("pressed", pressed);
    if (entry.retired) control.setAttribute("aria-pressed", String(pressed));
    else control.removeAttribute("aria-pressed");
  }
  let chosen = node.querySelector(".chosen");
  if (entry.chosen) {
    if (!chosen) {
      chosen = element("p", "chosen");
      node.append(chosen);
    }
    chosen.textContent = `→ ${entry.chosen}`;
  } else {
    chosen?.remove();
  }
}

function renderChat() {
  const entries = state.person ? history(state.person).entries : [];
  // Showing a whole history is not news: keep screen readers from reading it all out.
  dom.chat.setAttribute("aria-live", "off");
  dom.chat.replaceChildren(...entries.map(renderEntry));
  if (!entries.length) dom.chat.append(element("p", "empty-hint", t("web.empty_hint")));
  scrollToEnd();
  requestAnimationFrame(() => dom.chat.setAttribute("aria-live", "polite"));
}

function scrollToEnd() {
  dom.chat.scrollTop = dom.chat.scrollHeight;
  pinned = true;
}

// Stay at the newest message when the log changes size (rotation, on-screen keyboard), unless the
// person scrolled up to read something older.
let pinned = true;
function watchScroll() {
  dom.chat.addEventListener("scroll", () => {
    pinned = dom.chat.scrollHeight - dom.chat.scrollTop - dom.chat.clientHeight < 40;
  });
  new ResizeObserver(() => {
    if (pinned) dom.chat.scrollTop = dom.chat.scrollHeight;
  }).observe(dom.chat);
}

function personLabel(person) {
  const roles = person.roles.map((role) => t(`web.role.${role}`));
  return `${person.name} · ${roles.join(state.uiLocale === "zh_CN" ? "、" : ", ")}`;
}

function applyUiStrings() {
  document.documentElement.lang = bcp47(state.uiLocale);
  updateTitle();
  dom.title.textContent = t("web.title");
  dom.languages.setAttribute("aria-label", t("web.ui_language"));
  for (const control of dom.languages.querySelectorAll("button[data-locale]")) {
    const locale = control.dataset.locale;
    control.textContent = state.strings[locale]?.["lang.name"] ?? locale;
    control.lang = bcp47(locale);
    control.setAttribute("aria-pressed", String(locale === state.uiLocale));
  }
  dom.actAs.textContent = t("web.act_as");
  const me = state.signedIn ? state.people[0] : null;
  dom.banner.textContent = me ? t("web.signed_in_as").replace("{name}", me.name) : state.signIn ? "" : t("web.demo_banner");
  dom.banner.hidden = !dom.banner.textContent;
  dom.signout.textContent = t("web.signout");
  if (state.signIn) drawSignIn();
  dom.chat.setAttribute("aria-label", t("web.chat_log"));
  dom.messageLabel.textContent = t("web.message_label");
  dom.input.placeholder = t("web.placeholder");
  dom.send.textContent = t("web.send");
  dom.attach.setAttribute("aria-label", t("web.attach"));
  dom.attach.title = t("web.attach");
  dom.status.textContent = t("web.offline");
  for (const option of dom.picker.options) {
    const person = state.people.find((p) => p.id === option.value);
    if (person) option.textContent = personLabel(person);
  }
  const hint = dom.chat.querySelector(".empty-hint");
  if (hint) hint.textContent = t("web.empty_hint");
  for (const img of dom.chat.querySelectorAll("img.thumb")) img.alt = t("web.photo_sent");
  for (const label of dom.chat.querySelectorAll(".photo-label")) label.textContent = t("web.photo_sent");
}

function setUiLocale(locale) {
  if (!UI_LOCALES.includes(locale)) return;
  state.uiLocale = locale;
  storageSet("houqin.ui-locale", locale);
  applyUiStrings();
}

function updateTitle() {
  document.title = state.unread ? `(${state.unread}) ${t("web.title")}` : t("web.title");
}

function selectPerson(personId) {
  const person = state.people.find((p) => p.id === personId);
  if (!person) return;
  state.person = personId;
  state.unread = 0;
  hideToast(); // it was about what the previous person did
  dom.picker.value = personId;
  storageSet("houqin.person", personId);
  // Switching person only shows their own history; nothing is sent on their behalf. What is waiting
  // for them (cards, status notices) is fetched at once.
  setUiLocale(person.locale);
  renderChat();
  pollInbox(personId);
}

let toastTimer = 0;
function showToast(text) {
  dom.toast.textContent = text;
  dom.toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(hideToast, TOAST_MS);
}

function hideToast() {
  clearTimeout(toastTimer);
  dom.toast.hidden = true;
}

// --- talking to the server ----------------------------------------------------------------------

class ApiError extends Error {}

async function request(url, init = {}) {
  const { timeoutMs = 30000, ...options } = init;
  for (let attempt = 0; ; attempt += 1) {
    let response = null;
    try {
      const signal = typeof AbortSignal.timeout === "function" ? AbortSignal.timeout(timeoutMs) : undefined;
      response = await fetch(url, { ...options, signal });
    } catch {
      response = null; // offline, refused, reset or timed out: the request may or may not have arrived
    }
    if ((response === null || TRANSIENT_STATUS.has(response.status)) && attempt < RETRY_DELAYS_MS.length) {
      dom.status.hidden = false;
      await sleep(RETRY_DELAYS_MS[attempt]);
      continue;
    }
    dom.status.hidden = true;
    if (response === null) throw new ApiError(t("web.send_failed"));
    if (response.status === 401 && state.signedIn) {
      // The session ended (signed out elsewhere, expired): say how to sign in again.
      showSignIn(state.oidc);
      throw new ApiError(t("web.signin.title"));
    }
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (!response.ok || body === null) {
      const detail = typeof body?.error === "string" ? body.error : `HTTP ${response.status}`;
      throw new ApiError(`⚠ ${detail}`);
    }
    return body;
  }
}

// One request at a time, in the order the person acted, so replies never arrive out of turn.
let queue = Promise.resolve();
function enqueue(task) {
  const run = queue.then(task, task);
  queue = run.catch(() => {});
  return run;
}

function csrfHeaders(headers = {}) {
  return state.csrf ? { ...headers, "X-CSRF-Token": state.csrf } : headers;
}

function postJson(fields) {
  return {
    method: "POST",
    headers: csrfHeaders({ "Content-Type": "application/json" }),
    body: JSON.stringify({ client_id: newClientId(), ...fields }),
  };
}

function deliver(personId, url, init, press = null) {
  return enqueue(async () => {
    try {
      const outcome = await request(url, init);
      applyOutcome(personId, outcome, press);
    } catch (error) {
      if (press) unpress(personId, press);
      addEntry(personId, { who: "system", text: String(error.message || error) });
    }
    // What they did may have produced notices for them too (a ticket card, its update): fetch them now.
    // A card pressed waits for that update; without one (refused, a flow began) it is live again after.
    const polled = pollInbox(personId);
    if (press?.card) polled.finally(() => settleCard(personId, press));
  });
}

function applyOutcome(personId, outcome, press) {
  if (press && !press.card) {
    const entry = findEntry(personId, press.entryId);
    // A refused press (stale, forged) has no chosen: an old bubble keeps showing its real answer.
    if (entry && outcome.chosen) {
      entry.pressed = press.payload;
      entry.chosen = chosenLabel(outcome.chosen, press);
      updateEntry(personId, entry);
    }
  }
  const replies = Array.isArray(outcome.replies) ? outcome.replies : [];
  if (replies.length) retireAll(personId);
  for (const reply of replies) {
    addEntry(personId, {
      who: "bot",
      text: String(reply.text ?? ""),
      lang: outcome.locale,
      buttons: (reply.buttons ?? []).map((row) =>
        row.map((button) => ({ label: String(button.label), payload: String(button.payload) })),
      ),
      files: filesOf(reply),
      retired: false,
      pressed: null,
      chosen: null,
    });
  }
  const person = state.people.find((p) => p.id === personId);
  if (person && UI_LOCALES.includes(outcome.locale) && outcome.locale !== person.locale) {
    // They changed their language with /lang: the page follows, as it does when they are picked.
    person.locale = outcome.locale;
    if (personId === state.person) setUiLocale(outcome.locale);
  }
  if (personId !== state.person) return;
  if (outcome.toast) showToast(String(outcome.toast));
  restoreFocus();
}

// The engine reports a menu press ("go:repair") by its bare value; the button's own label reads better.
function chosenLabel(chosen, press) {
  const value = press.payload.slice(press.payload.indexOf(":") + 1);
  return chosen === value || chosen === press.payload ? press.label : String(chosen);
}

function unpress(personId, press) {
  if (press.card) return; // settleCard, after the inbox has been asked
  const entry = findEntry(personId, press.entryId);
  // Notices arriving meanwhile do not answer the question; a reply would have.
  const answered = history(personId).entries.some((e) => e.id > press.entryId && e.who === "bot" && !e.notice);
  if (press.wasOpen && entry && !answered) {
    // Nothing came back, so the question is still open: let them press again.
    entry.retired = false;
    entry.pressed = null;
    updateEntry(personId, entry);
  }
}

function settleCard(personId, press) {
  const entry = findEntry(personId, press.entryId);
  if (!entry || entry.busy !== press.token) return; // updated meanwhile: the new buttons are live
  entry.busy = null;
  entry.pressed = null;
  updateEntry(personId, entry);
}

// A pressed button is disabled under the keyboard user's focus: move it to where they can go on, the
// newest open question rather than a card further up.
function restoreFocus() {
  const active = document.activeElement;
  if (active && active !== document.body && !active.disabled) return;
  const open = [...dom.chat.querySelectorAll(".msg.bot:not(.card)")]
    .map((node) => node.querySelector("button.reply:not(:disabled)"))
    .filter(Boolean);
  (open.at(-1) ?? dom.input).focus();
}

// --- notices: the inbox -------------------------------------------------------------------------

// One inbox request at a time. Asking while one is out queues one more (asks in between share it), so
// a poll asked for after an action always starts after that action's answer.
let inboxTail = Promise.resolve();
let inboxWaiting = null; // {personId, promise}: asked for, not started yet
let inboxOut = 0;

function pollInbox(personId = state.person) {
  if (!personId) return Promise.resolve();
  if (inboxWaiting?.personId === personId) return inboxWaiting.promise;
  const job = { personId };
  job.promise = inboxTail.then(async () => {
    if (inboxWaiting === job) inboxWaiting = null;
    inboxOut += 1;
    try {
      await fetchInbox(personId);
    } catch (error) {
      console.error("applying notices failed", error); // a bug, not the network: the next poll still runs
    } finally {
      inboxOut -= 1;
    }
  });
  inboxWaiting = job;
  inboxTail = job.promise;
  return job.promise;
}

// Notices shown but not yet acknowledged, per person: the next poll says so, and only then does the
// server stop handing them out. A lost answer therefore costs nothing; ids seen before are skipped.
const unacknowledged = new Map();

async function fetchInbox(personId) {
  const ack = [...(unacknowledged.get(personId) ?? [])];
  let body = null;
  try {
    const signal = typeof AbortSignal.timeout === "function" ? AbortSignal.timeout(POLL_TIMEOUT_MS) : undefined;
    const response = await fetch("/api/web/inbox", {
      method: "POST",
      headers: csrfHeaders({ "Content-Type": "application/json" }),
      body: JSON.stringify({ person: personId, ack }),
      signal,
    });
    if (response.status === 401 && state.signedIn) {
      showSignIn(state.oidc);
      return;
    }
    if (!response.ok) return;
    body = await response.json();
  } catch {
    return; // offline or a hiccup: quietly, the next tick asks (and acknowledges) again
  }
  const pending = new Set([...(unacknowledged.get(personId) ?? [])].filter((id) => !ack.includes(id)));
  const kept = history(personId);
  kept.seen = Array.isArray(kept.seen) ? kept.seen : [];
  const notices = Array.isArray(body?.notices) ? body.notices : [];
  for (const notice of notices) {
    if (!notice || typeof notice !== "object" || !Number.isInteger(notice.id)) continue;
    pending.add(notice.id);
    if (kept.seen.includes(notice.id)) continue;
    kept.seen.push(notice.id);
    applyNotice(personId, notice);
  }
  if (kept.seen.length > KEEP_ENTRIES) kept.seen.splice(0, kept.seen.length - KEEP_ENTRIES);
  saveHistory(personId);
  unacknowledged.set(personId, pending);
}

function applyNotice(personId, notice) {
  const text = String(notice.text ?? "");
  const rows = Array.isArray(notice.buttons) ? notice.buttons : [];
  const buttons = rows.map((row) =>
    (Array.isArray(row) ? row : []).map((b) => ({ label: String(b?.label ?? ""), payload: String(b?.payload ?? "") })),
  );
  const cardKey = typeof notice.card_key === "string" && notice.card_key ? notice.card_key : null;
  // Only our own photo URLs: the page never points an <img> at an address the server did not make.
  const photos = (Array.isArray(notice.photos) ? notice.photos : []).filter(
    (url) => typeof url === "string" && url.startsWith("/api/web/photos/"),
  );
  const files = filesOf(notice);
  const lang = state.people.find((p) => p.id === personId)?.locale;
  const card = cardKey && history(personId).entries.findLast((e) => e.who === "bot" && e.cardKey === cardKey);
  if (card) {
    // The same card, as the ticket is now: new text, new (live) buttons, in the same place.
    Object.assign(card, { text, buttons, photos, files, lang, busy: null, pressed: null, chosen: null, retired: false });
    redrawCard(personId, card);
  } else {
    const entry = { who: "bot", notice: true, cardKey, text, lang, buttons, photos, files };
    Object.assign(entry, { retired: false, pressed: null, chosen: null });
    // Unasked for: it does not pull someone reading further up down to the end.
    addEntry(personId, entry, { follow: false });
  }
  if (personId === state.person && document.visibilityState === "hidden") {
    state.unread += 1;
    updateTitle();
  }
}

function tick() {
  if (document.visibilityState === "visible" && state.person && inboxOut === 0 && !inboxWaiting) pollInbox();
}

// --- actions ------------------------------------------------------------------------------------

function sendText(text) {
  const personId = state.person;
  if (!personId) return;
  addEntry(personId, { who: "me", text });
  deliver(personId, "/api/web/messages", postJson({ person: personId, text }));
}

function pressButton(control) {
  const personId = state.person;
  const node = control.closest(".msg.bot");
  const entry = node && personId ? findEntry(personId, Number(node.dataset.entry)) : null;
  if (!entry) return;
  if (entry.cardKey) {
    pressCard(personId, entry, control);
    return;
  }
  const press = {
    entryId: entry.id,
    payload: control.dataset.payload,
    label: control.textContent,
    wasOpen: !entry.retired,
  };
  entry.retired = true;
  if (press.wasOpen) {
    entry.pressed = press.payload;
    entry.chosen = null;
  }
  updateEntry(personId, entry); // also re-disables a retired button someone re-enabled by hand
  // Even a button from an old bubble is sent: the server decides it is stale and says so.
  deliver(personId, "/api/web/messages", postJson({ person: personId, button: press.payload }), press);
}

let cardPresses = 0;
function pressCard(personId, entry, control) {
  if (entry.busy) return;
  const press = {
    entryId: entry.id,
    payload: control.dataset.payload,
    label: control.textContent,
    card: true,
    token: (cardPresses += 1),
  };
  // Its buttons wait for the answer and the card's update, which brings the buttons that fit now.
  entry.busy = press.token;
  entry.pressed = press.payload;
  updateEntry(personId, entry);
  deliver(personId, "/api/web/messages", postJson({ person: personId, button: press.payload }), press);
}

async function thumbnail(file) {
  try {
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(1, THUMB_PX / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    const context = canvas.getContext("2d");
    context.fillStyle = "#fff"; // JPEG has no transparency
    context.fillRect(0, 0, canvas.width, canvas.height);
    context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    // A small JPEG, not the photo itself, so the history fits in sessionStorage.
    return canvas.toDataURL("image/jpeg", 0.82);
  } catch {
    return null;
  }
}

function sendPhoto(file) {
  const personId = state.person;
  if (!personId) return;
  if (file.size > MAX_PHOTO) {
    addEntry(personId, { who: "system", text: t("web.photo_too_big") });
    return;
  }
  if (file.type.startsWith("image/")) {
    const entry = addEntry(personId, { who: "me", photo: null });
    thumbnail(file).then((src) => {
      entry.photo = src;
      updateEntry(personId, entry);
    });
  } else {
    // A file for an admin's import (type /stock import or /survey import first): shown by its name.
    addEntry(personId, { who: "me", text: `📎 ${file.name || "file"}` });
  }
  const form = new FormData();
  form.append("person", personId);
  form.append("client_id", newClientId());
  form.append("file", file, file.name || "photo");
  deliver(personId, "/api/web/photos", { method: "POST", body: form, headers: csrfHeaders(), timeoutMs: 120000 });
}

// --- start --------------------------------------------------------------------------------------

function wire() {
  watchScroll();
  dom.composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = dom.input.value;
    if (!text.trim() || !state.person) return;
    dom.input.value = "";
    sendText(text);
  });
  dom.attach.addEventListener("click", () => dom.photoInput.click());
  dom.photoInput.addEventListener("change", () => {
    const file = dom.photoInput.files?.[0];
    dom.photoInput.value = ""; // so choosing the same file again still fires change
    if (file) sendPhoto(file);
  });
  dom.chat.addEventListener("click", (event) => {
    const control = event.target.closest?.("button.reply");
    if (control && !control.disabled) pressButton(control);
  });
  dom.picker.addEventListener("change", () => selectPerson(dom.picker.value));
  dom.signout.addEventListener("click", signOut);
  dom.languages.addEventListener("click", (event) => {
    const control = event.target.closest?.("button[data-locale]");
    if (!control) return;
    setUiLocale(control.dataset.locale);
    // One language for the person, the page and the bot: the switch is their /lang choice too.
    const person = state.people.find((p) => p.id === state.person);
    if (person && person.locale !== control.dataset.locale) {
      deliver(state.person, "/api/web/messages", postJson({ person: state.person, button: `lang:${control.dataset.locale}` }));
    }
  });
  // Every few seconds while the tab is seen; a tab coming back asks at once.
  setInterval(tick, POLL_MS);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState !== "visible") return;
    state.unread = 0;
    updateTitle();
    tick();
  });
}

// A door sign's link (/?start=room_12) begins that conversation once, as if the person typed it; the
// parameter then leaves the address bar so a reload does not send it again.
function startFromLink() {
  const params = new URLSearchParams(location.search);
  const payload = params.get("start");
  if (!state.person || payload === null || !/^[A-Za-z0-9_-]{1,64}$/.test(payload)) return;
  sendText(`/start ${payload}`);
  params.delete("start");
  const query = params.toString();
  // window.history: this module's own history() is the chat log.
  const address = `${location.pathname}${query ? `?${query}` : ""}${location.hash}`;
  window.history.replaceState(window.history.state, "", address);
}

function setComposerEnabled(enabled) {
  for (const control of [dom.input, dom.send, dom.attach]) control.disabled = !enabled;
  dom.picker.disabled = !enabled || state.signedIn;
}

// --- signing in (outside demo mode) ------------------------------------------------------------

// Who is signed in here: {demo: true} in demo mode, {person, csrf}, or {signin: true, oidc} (401).
async function whoIsHere() {
  const response = await fetch("/api/web/session", { cache: "no-store" });
  const body = await response.json();
  if (response.status === 401) return { signin: true, oidc: body?.oidc === true };
  if (!response.ok) throw new ApiError(`⚠ HTTP ${response.status}`);
  return body;
}

function browserLocale() {
  return (navigator.language || "").toLowerCase().startsWith("zh") ? "zh_CN" : "en";
}

function showSignIn(oidc) {
  state.signedIn = false;
  state.csrf = null;
  state.person = null;
  state.signIn = { oidc: Boolean(oidc) };
  state.oidc = Boolean(oidc);
  hideToast();
  setComposerEnabled(false);
  dom.personBox.hidden = true;
  dom.signout.hidden = true;
  setUiLocale(storageGet("houqin.ui-locale") ?? browserLocale());
}

function drawSignIn() {
  const panel = element("section", "signin-panel");
  panel.setAttribute("data-testid", "signin-panel");
  panel.append(element("h2", null, t("web.signin.title")), element("p", null, t("web.signin.how")));
  if (state.signIn.oidc) {
    const sso = element("a", "sso", t("web.signin.sso"));
    sso.href = "/signin/oidc";
    sso.setAttribute("data-testid", "sso-button");
    panel.append(sso);
  }
  dom.chat.replaceChildren(panel);
}

// The server's recent entries become this tab's history: old questions stay answered, cards stay live.
function historyFrom(entries) {
  const kept = { seq: 0, entries: [], seen: [] };
  const list = Array.isArray(entries) ? entries : [];
  list.forEach((item, index) => {
    if (!item || typeof item !== "object") return;
    kept.seq += 1;
    if (item.who === "me") {
      kept.entries.push("photo" in item ? { id: kept.seq, who: "me", photo: null } : { id: kept.seq, who: "me", text: String(item.text ?? "") });
      return;
    }
    const cardKey = typeof item.card_key === "string" && item.card_key ? item.card_key : null;
    const buttons = (Array.isArray(item.buttons) ? item.buttons : []).map((row) =>
      (Array.isArray(row) ? row : []).map((b) => ({ label: String(b?.label ?? ""), payload: String(b?.payload ?? "") })),
    );
    const photos = (Array.isArray(item.photos) ? item.photos : []).filter(
      (url) => typeof url === "string" && url.startsWith("/api/web/photos/"),
    );
    const last = index === list.length - 1;
    kept.entries.push({
      id: kept.seq, who: "bot", text: String(item.text ?? ""), lang: item.lang, cardKey, buttons, photos,
      files: filesOf(item), notice: Number.isInteger(item.id), retired: !cardKey && !last, pressed: null, chosen: null,
    });
    if (Number.isInteger(item.id)) kept.seen.push(item.id);
  });
  return kept;
}

async function startSignedIn(session) {
  const me = session.person;
  state.signedIn = true;
  state.signIn = null;
  state.csrf = String(session.csrf);
  state.oidc = session.oidc === true;
  state.people = [{ id: String(me.id), name: String(me.name), locale: me.locale, roles: [] }];
  dom.personBox.hidden = true;
  dom.signout.hidden = false;
  const { entries } = await request("/api/web/history");
  state.histories.set(state.people[0].id, historyFrom(entries));
  saveHistory(state.people[0].id);
  setComposerEnabled(true);
  selectPerson(state.people[0].id);
  startFromLink();
}

async function signOut() {
  const personId = state.person;
  try {
    await request("/api/web/signout", { method: "POST", headers: csrfHeaders() });
  } catch {
    // Signed out already (401 shows the instructions) or offline: the page forgets them either way.
  }
  if (personId) {
    state.histories.delete(personId);
    try {
      sessionStorage.removeItem(historyKey(personId));
    } catch {
      // storage disabled: nothing kept to forget
    }
  }
  showSignIn(state.oidc);
}

async function start() {
  wire();
  setComposerEnabled(false);
  let people;
  try {
    const catalogs = await Promise.all(
      UI_LOCALES.map((locale) => request(`/api/web/strings?locale=${encodeURIComponent(locale)}`)),
    );
    UI_LOCALES.forEach((locale, i) => {
      state.strings[locale] = catalogs[i].strings ?? {};
    });
    const here = await whoIsHere();
    if (here.signin) {
      showSignIn(here.oidc);
      return;
    }
    if (!here.demo) {
      await startSignedIn(here);
      return;
    }
    ({ people } = await request("/api/web/people"));
  } catch (error) {
    applyUiStrings();
    const line = element("div", "msg system");
    line.append(element("p", "line", String(error.message || error)));
    dom.chat.replaceChildren(line);
    return;
  }
  state.people = Array.isArray(people) ? people : [];
  dom.picker.replaceChildren(
    ...state.people.map((person) => {
      const option = element("option");
      option.value = person.id;
      return option;
    }),
  );
  const remembered = storageGet("houqin.person");
  // A reload keeps the page language they had, even if it is not the person's own.
  const rememberedUi = storageGet("houqin.ui-locale");
  const first = state.people.find((p) => p.id === remembered) ?? state.people[0];
  setComposerEnabled(Boolean(first));
  if (!first) {
    applyUiStrings();
    renderChat();
    return;
  }
  selectPerson(first.id);
  if (first.id === remembered && rememberedUi) setUiLocale(rememberedUi);
  startFromLink();
}

start();
