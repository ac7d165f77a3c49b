/**
 * Which statements leave state in the session that outlives them, for
 * `resetSession: "auto"`: the next borrower of the connection must not
 * inherit it. Judged from the text before the statement is sent (a session
 * advisory lock taken by a statement that then fails is still held), and
 * from the command tag after; see docs/behaviour.md, "Session reset".
 *
 * The judgement errs towards a reset: a text that merely looks like one of
 * these costs one round trip on release, a missed one leaks state.
 */

/** A leading run of white space and SQL comments. */
const LEADING = /^(?:\s+|--[^\n]*\n?|\/\*[\s\S]*?\*\/)*/;
/** First words whose statement always changes the session. */
const ALWAYS = new Set(["listen", "prepare", "load", "do"]);
/** `SET` forms that last only until the transaction ends. */
const TRANSACTION_SET = /^set\s+(?:local|transaction|constraints)\b/i;
/** `CREATE [GLOBAL | LOCAL] TEMP[ORARY] ...`, or an object created in `pg_temp`. */
const CREATE_TEMP = /^create\s+(?:(?:global|local)\s+)?temp(?:orary)?\b|\bpg_temp\./i;
/** `SELECT ... INTO [GLOBAL | LOCAL] TEMP[ORARY] ...`. */
const INTO_TEMP = /\binto\s+(?:(?:global|local)\s+)?temp(?:orary)?\b/i;
/** `DECLARE ... WITH HOLD`: the cursor outlives its transaction. */
const WITH_HOLD = /\bwith\s+hold\b/i;
/** Session advisory locks and unlocks; the `_xact_` ones end with the transaction. */
const SESSION_ADVISORY = /advisory_(?!xact_)/i;
const SET_CONFIG = /set_config\s*\(/gi;
/** A `set_config` whose third argument is the literal `true`: local to the transaction. */
const LOCAL_SET_CONFIG = /set_config\s*\([^;]*?,\s*true\s*\)/gi;

/**
 * What a text does to the session, as far as its words tell: nothing; changes
 * it (reset on release); or only `SET LOCAL`, `SET TRANSACTION` or
 * `SET CONSTRAINTS`, whose `SET` tag then changes nothing.
 */
type Verdict = "none" | "session" | "transactionSet";

/** Statement texts seen lately, and their verdicts. */
const verdicts = new Map<string, Verdict>();
const MAX_VERDICTS = 512;

/** Whether running `text` may leave state in the session after it ends. */
export function changesSession(text: string): boolean {
  return verdict(text) === "session";
}

/**
 * Whether a statement that succeeded with the command tag `command` changed
 * the session: the tag catches what the words of `text` did not.
 */
export function tagChangesSession(text: string, command: string): boolean {
  if (command === "LISTEN" || command === "PREPARE") return true;
  return (command === "SET" || command === "RESET") && verdict(text) === "none";
}

function verdict(text: string): Verdict {
  let known = verdicts.get(text);
  if (known === undefined) {
    // Applications run the same texts again and again; dynamic ones must not grow this.
    if (verdicts.size >= MAX_VERDICTS) verdicts.clear();
    verdicts.set(text, known = judge(text));
  }
  return known;
}

function judge(text: string): Verdict {
  if (SESSION_ADVISORY.test(text) || unscopedSetConfig(text)) return "session";
  let result: Verdict = "none";
  // Each statement of a multi-statement text; a `;` inside a literal only adds pieces to judge.
  for (const piece of text.split(";")) {
    const statement = piece.slice(LEADING.exec(piece)![0].length);
    const word = /^[a-z]*/i.exec(statement)![0].toLowerCase();
    if (ALWAYS.has(word)) return "session";
    if (word === "set") {
      if (!TRANSACTION_SET.test(statement)) return "session";
      result = "transactionSet";
    } else if (word === "reset") return "session";
    else if (word === "create" && CREATE_TEMP.test(statement)) return "session";
    else if (word === "declare" && WITH_HOLD.test(statement)) return "session";
    else if ((word === "select" || word === "with") && INTO_TEMP.test(statement)) {
      return "session";
    }
  }
  return result;
}

/** Whether `text` calls `set_config` other than with a literal `true` (local) third argument. */
function unscopedSetConfig(text: string): boolean {
  const calls = text.match(SET_CONFIG)?.length ?? 0;
  return calls > 0 && calls !== (text.match(LOCAL_SET_CONFIG)?.length ?? 0);
}
