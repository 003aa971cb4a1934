// The page's texts in its language. The server puts the catalog of the chosen locale
// (the user's setting, else Accept-Language, else en) into <script type="application/json"
// id="i18n">{locale, messages}</script>, so no request is needed; keys live in
// i18n/<locale>/<area>.json. t() is also set on globalThis for scripts that do not import.
// Dates and numbers go through Intl with the same locale.
const data = (() => {
  const node = typeof document !== "undefined" ? document.getElementById("i18n") : null;
  try {
    return node ? JSON.parse(node.textContent) : {};
  } catch {
    return {};
  }
})();

export const locale = data.locale || (typeof document !== "undefined" && document.documentElement.lang) || "en";
const messages = data.messages || {};
const own = (obj, key) => Object.prototype.hasOwnProperty.call(obj, key);
const numbers = new Intl.NumberFormat(locale);
const plurals = new Intl.PluralRules(locale);

export function formatNumber(n) {
  return numbers.format(n);
}

// The text of key with each {name} replaced by params[name] (numbers formatted for the
// locale). A key the catalog lacks shows as itself, so a missing text is visible.
export function t(key, params) {
  const text = own(messages, key) ? messages[key] : key;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name) => {
    if (!own(params, name)) return whole;
    const v = params[name];
    return typeof v === "number" ? formatNumber(v) : String(v);
  });
}

// A text that depends on a count: key.one, key.other (and key.many, ... where a locale
// has them) chosen by Intl.PluralRules; {count} is the count. Falls back to key.other.
export function tn(key, count, params = {}) {
  const form = `${key}.${plurals.select(count)}`;
  return t(own(messages, form) ? form : `${key}.other`, { ...params, count });
}

// Dates and times in the locale, in the viewer's time zone.
export function formatDate(date, options) {
  return new Intl.DateTimeFormat(locale, options).format(date);
}

globalThis.t = t;
