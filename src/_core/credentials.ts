/**
 * Takes credentials out of text an error shows: the user name and password
 * of a URL (`scheme://user:password@host`) and the value of a `password=`
 * key in a key-value connection string.
 *
 * @module
 */

/** A URL's scheme and user info, to the last `@` before white space or a quote. */
const URL_USER_INFO = /\b([a-z][a-z\d+.-]*:\/\/)[^\s"'`<>]*@/gi;
/** A `password=value` pair, the value quoted or not. */
const PASSWORD_PAIR = /\b(password\s*=\s*)(?:'(?:[^'\\]|\\.)*'|[^\s'"]+)/gi;

/** `text` with URL user info and `password=` values replaced by `***`. */
export function hideCredentials(text: string): string {
  return text.replace(URL_USER_INFO, "$1***@").replace(PASSWORD_PAIR, "$1***");
}

/**
 * A string as an error shows it. For a URL, all that follows the scheme up
 * to the last `@` is user info, as a password may hold an unencoded `@`,
 * `/` or white space.
 */
export function hideUrlCredentials(value: string): string {
  const scheme = /^[a-z][a-z\d+.-]*:\/\//i.exec(value);
  const at = value.lastIndexOf("@");
  if (scheme === null || at < scheme[0].length) return hideCredentials(value);
  return hideCredentials(`${scheme[0]}***${value.slice(at)}`);
}
