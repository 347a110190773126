/**
 * EventBridge event patterns, matched as EventBridge matches them, for the embedded bus.
 *
 * Sources (the semantics below cite them by these short names):
 * - [operators] "Comparison operators for use in event patterns in Amazon EventBridge",
 *   https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html
 * - [filtering] "Content filtering in Amazon EventBridge event patterns",
 *   https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-content-based-filtering.html
 * - [nulls] "Matching events on null values and empty strings in Amazon EventBridge",
 *   https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-null-values.html
 * - [ruler] the README and JsonRuleCompiler of aws/event-ruler, the open-source matcher EventBridge
 *   runs, for what the guides leave out (exists on leaves only, arrays of objects, what a pattern may be).
 *
 * The rules, in short:
 * - A pattern is a JSON object. Each field names an event field: a nested object ANDs its fields at
 *   that level, an array (a "leaf") lists the values any one of which may match (OR). [filtering]
 * - Every field the pattern names must match; fields the pattern does not name are ignored. A field
 *   missing from the event fails every condition except `{"exists": false}`. [operators]
 * - When the event's value is an array, the field matches if any element matches (the intersection
 *   of both lists is non-empty). When an array holds objects, a nested pattern must match within one
 *   element: fields from two elements of the same array never combine. [ruler]
 * - `exists` looks at leaf values only: a field whose value is an object (or an empty array) does not
 *   "exist" as a leaf. [ruler]
 * - `null` and `""` are values, and are not interchangeable. [nulls]
 * - Exact values match by JSON type: the string "5" never matches the number 5; numbers compare as
 *   numbers (5 matches 5.0). [ruler: numbers get a numeric-equals matcher]
 *
 * A pattern EventBridge would refuse, or one using something this matcher does not implement, is refused
 * by checkEventPattern: the embedded bus must never quietly treat a pattern otherwise than AWS does.
 */
import { BlockList, isIP } from 'node:net';

/** A value a leaf may list: an exact JSON value, or an operator object such as `{ "prefix": "x" }`. */
export type EventPatternValue = string | number | boolean | null | { readonly [operator: string]: unknown };

/** An event pattern as `PutRule` takes it: fields are nested patterns, leaves, or `$or` lists of patterns. */
export interface EventPattern {
  readonly [field: string]: EventPattern | readonly EventPatternValue[] | readonly EventPattern[];
}

/** Thrown by matchesEventPattern for a pattern checkEventPattern finds problems in. */
export class InvalidEventPatternError extends Error {
  override readonly name = 'InvalidEventPatternError';
  readonly problems: string[];

  constructor(problems: string[]) {
    super(`Invalid event pattern: ${problems.join('; ')}`);
    this.problems = problems;
  }
}

/**
 * Whether the event matches the pattern. Throws InvalidEventPatternError when the pattern is not one
 * EventBridge would accept (checked once per pattern object).
 */
export function matchesEventPattern(pattern: EventPattern, event: unknown): boolean {
  if (!checkedPatterns.has(pattern)) {
    const problems = checkEventPattern(pattern);
    if (problems.length > 0) throw new InvalidEventPatternError(problems);
    checkedPatterns.add(pattern);
  }
  return matchObject(pattern as PatternObject, event);
}

/**
 * The problems that make EventBridge refuse the pattern, or make the embedded bus unable to match it
 * as EventBridge would; empty when there are none. Each names the pattern path it is about.
 */
export function checkEventPattern(pattern: unknown): string[] {
  const problems: string[] = [];
  if (!isPlainObject(pattern)) {
    problems.push('the pattern must be a JSON object');
    return problems;
  }
  checkObject(pattern, [], problems, false);
  return problems;
}

type PatternObject = { readonly [field: string]: unknown };

/** Patterns already checked: the bus checks at addRule, and a rule's pattern is matched many times. */
const checkedPatterns = new WeakSet<object>();

/** Event-ruler's number matching covers -5.0e9 to +5.0e9 (15 significant digits). [ruler README] */
const NUMERIC_LIMIT = 5e9;

/** `$or` combines patterns; it is a keyword, not a field name, when its value is an array of objects. [operators] */
const OR = '$or';

const OPERATORS = new Set([
  'prefix',
  'suffix',
  'equals-ignore-case',
  'wildcard',
  'anything-but',
  'numeric',
  'exists',
  'cidr',
]);

// ---------------------------------------------------------------------------------------------
// Checking

function checkObject(pattern: PatternObject, path: string[], problems: string[], insideOr: boolean): void {
  const fields = Object.keys(pattern);
  if (fields.length === 0) problems.push(`${at(path)}: empty objects are not allowed`);
  for (const field of fields) {
    const value = pattern[field];
    const fieldPath = [...path, field];
    if (field === OR) {
      checkOr(value, fieldPath, problems);
      continue;
    }
    // [ruler] Inside $or, operator names cannot be field names (they would read as a misplaced operator).
    if (insideOr && OPERATORS.has(field)) {
      problems.push(`${at(fieldPath)}: "${field}" is an operator, not a field name, inside "$or"`);
    }
    if (Array.isArray(value)) checkLeaf(value, fieldPath, problems);
    else if (isPlainObject(value)) checkObject(value, fieldPath, problems, insideOr);
    else problems.push(`${at(fieldPath)}: must be an object or an array (leaf values are listed in arrays)`);
  }
}

function checkOr(value: unknown, path: string[], problems: string[]): void {
  if (!Array.isArray(value) || value.length < 2 || !value.every(isPlainObject)) {
    problems.push(`${at(path)}: "$or" takes an array of at least two pattern objects`);
    return;
  }
  value.forEach((branch, index) => {
    checkObject(branch as PatternObject, [...path, String(index)], problems, true);
  });
}

function checkLeaf(values: readonly unknown[], path: string[], problems: string[]): void {
  if (values.length === 0) problems.push(`${at(path)}: empty arrays are not allowed`);
  for (const value of values) {
    if (value === null || ['string', 'boolean'].includes(typeof value)) continue;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) problems.push(`${at(path)}: ${value} is not a JSON number`);
      continue;
    }
    if (!isPlainObject(value)) {
      problems.push(
        `${at(path)}: match values must be strings, numbers, true, false, null or operator objects`,
      );
      continue;
    }
    checkOperator(value, path, problems);
  }
}

function checkOperator(expression: PatternObject, path: string[], problems: string[]): void {
  const keys = Object.keys(expression);
  if (keys.length !== 1) {
    problems.push(`${at(path)}: an operator object has exactly one key, not ${keys.length}`);
    return;
  }
  const operator = keys[0] as string;
  const argument = expression[operator];
  const where = `${at(path)}: ${operator}`;
  switch (operator) {
    case 'prefix':
    case 'suffix':
      // [operators] Begins/ends with, also `{ "prefix": { "equals-ignore-case": "x" } }`.
      if (typeof argument === 'string') return;
      if (isSingleKey(argument, 'equals-ignore-case') && typeof argument['equals-ignore-case'] === 'string') {
        return;
      }
      problems.push(`${where} takes a string or { "equals-ignore-case": string }`);
      return;
    case 'equals-ignore-case':
      if (typeof argument !== 'string') problems.push(`${where} takes a string`);
      return;
    case 'wildcard':
      checkWildcard(argument, where, problems);
      return;
    case 'anything-but':
      checkAnythingBut(argument, where, problems);
      return;
    case 'numeric':
      checkNumeric(argument, where, problems);
      return;
    case 'exists':
      if (typeof argument !== 'boolean') problems.push(`${where} takes true or false`);
      return;
    case 'cidr':
      if (typeof argument !== 'string' || parseCidr(argument) === undefined) {
        problems.push(`${where} takes an IPv4 or IPv6 block such as "10.0.0.0/24"`);
      }
      return;
    default:
      problems.push(`${at(path)}: unknown operator "${operator}"`);
  }
}

/** [ruler] `*` matches any run of characters; `**` is refused; `\*` and `\\` escape; no other escapes. */
function checkWildcard(argument: unknown, where: string, problems: string[]): void {
  if (typeof argument !== 'string') {
    problems.push(`${where} takes a string`);
    return;
  }
  if (wildcardProblem(argument)) problems.push(`${where} "${argument}": ${wildcardProblem(argument)}`);
}

function wildcardProblem(text: string): string | undefined {
  for (let index = 0; index < text.length; index++) {
    const char = text[index];
    if (char === '\\') {
      const next = text[index + 1];
      if (next !== '*' && next !== '\\') return 'a backslash may only escape * or \\';
      index++;
    } else if (char === '*' && text[index + 1] === '*') {
      return 'consecutive wildcard characters are not allowed';
    }
  }
  return undefined;
}

/**
 * [operators][ruler] anything-but takes a string, a number, a non-empty list of only strings or only
 * numbers, or one of { prefix | suffix: non-empty string }, { equals-ignore-case: string | strings },
 * { wildcard: string | strings }.
 */
function checkAnythingBut(argument: unknown, where: string, problems: string[]): void {
  if (typeof argument === 'string') return;
  if (typeof argument === 'number') {
    if (!Number.isFinite(argument)) problems.push(`${where}: ${argument} is not a JSON number`);
    return;
  }
  if (Array.isArray(argument)) {
    const allStrings = argument.every((value) => typeof value === 'string');
    const allNumbers = argument.every((value) => typeof value === 'number' && Number.isFinite(value));
    if (argument.length === 0 || !(allStrings || allNumbers)) {
      problems.push(`${where} lists only strings or only numbers, at least one`);
    }
    return;
  }
  if (isPlainObject(argument) && Object.keys(argument).length === 1) {
    const [inner, value] = Object.entries(argument)[0] as [string, unknown];
    if (inner === 'prefix' || inner === 'suffix') {
      if (typeof value !== 'string' || value === '')
        problems.push(`${where} ${inner} takes a non-empty string`);
      return;
    }
    if (inner === 'equals-ignore-case' || inner === 'wildcard') {
      const values = Array.isArray(value) ? value : [value];
      if (values.length === 0 || !values.every((one) => typeof one === 'string')) {
        problems.push(`${where} ${inner} takes a string or a list of strings`);
        return;
      }
      if (inner === 'wildcard') for (const one of values) checkWildcard(one, `${where} wildcard`, problems);
      return;
    }
    problems.push(`${where}: unsupported anything-but pattern "${inner}"`);
    return;
  }
  problems.push(
    `${where} takes a string, a number, a list of either, or a prefix/suffix/equals-ignore-case/wildcard object`,
  );
}

/**
 * [operators][ruler] `["=", n]`; `["<" | "<=", n]`; `[">" | ">=", n]`, optionally followed by
 * `"<" | "<=", m` with n < m. Numbers within ±5.0e9.
 */
function checkNumeric(argument: unknown, where: string, problems: string[]): void {
  const range = Array.isArray(argument)
    ? parseNumericRange(argument)
    : 'takes an array such as [">", 0, "<=", 5]';
  if (typeof range === 'string') problems.push(`${where} ${JSON.stringify(argument)}: ${range}`);
}

interface NumericRange {
  lower?: { value: number; inclusive: boolean };
  upper?: { value: number; inclusive: boolean };
}

function parseNumericRange(terms: readonly unknown[]): NumericRange | string {
  const [operator, value, upperOperator, upperValue] = terms;
  if (typeof operator !== 'string') return 'starts with an operator: =, <, <=, > or >=';
  if (typeof value !== 'number' || !Number.isFinite(value))
    return `the value of ${operator} must be a number`;
  if (Math.abs(value) > NUMERIC_LIMIT) return `numeric matching is limited to ±${NUMERIC_LIMIT}`;
  const term = { value, inclusive: operator.endsWith('=') };
  switch (operator) {
    case '=':
      return terms.length === 2 ? { lower: term, upper: term } : 'too many terms after "="';
    case '<':
    case '<=':
      return terms.length === 2 ? { upper: term } : `a range starts with > or >=, not ${operator}`;
    case '>':
    case '>=':
      break;
    default:
      return `unknown numeric operator "${operator}"`;
  }
  if (terms.length === 2) return { lower: term };
  if (terms.length !== 4) return 'a range has a lower and an upper bound: [">", a, "<", b]';
  if (upperOperator !== '<' && upperOperator !== '<=') return 'the upper bound of a range uses < or <=';
  if (typeof upperValue !== 'number' || !Number.isFinite(upperValue)) {
    return `the value of ${upperOperator} must be a number`;
  }
  if (Math.abs(upperValue) > NUMERIC_LIMIT) return `numeric matching is limited to ±${NUMERIC_LIMIT}`;
  if (upperValue <= value) return 'the lower bound must be below the upper bound';
  return { lower: term, upper: { value: upperValue, inclusive: upperOperator === '<=' } };
}

// ---------------------------------------------------------------------------------------------
// Matching (the pattern is known to be valid)

/** Matches the pattern's fields against `node`, the event's value at the pattern's level (any JSON value). */
function matchObject(pattern: PatternObject, node: unknown): boolean {
  for (const [field, sub] of Object.entries(pattern)) {
    if (field === OR) {
      if (!(sub as PatternObject[]).some((branch) => matchObject(branch, node))) return false;
      continue;
    }
    const child = isPlainObject(node) && Object.hasOwn(node, field) ? node[field] : undefined;
    const matched = Array.isArray(sub) ? matchLeaf(sub, child) : matchNested(sub as PatternObject, child);
    if (!matched) return false;
  }
  return true;
}

/** A nested pattern against an event value: within one element when the event holds an array. [ruler] */
function matchNested(pattern: PatternObject, node: unknown): boolean {
  if (!Array.isArray(node)) return matchObject(pattern, node);
  const elements = node.flat(Number.POSITIVE_INFINITY);
  // An empty array holds no field at all: only absence conditions can match it.
  if (elements.length === 0) return matchObject(pattern, undefined);
  return elements.some((element) => matchObject(pattern, element));
}

type Leaf = string | number | boolean | null;

/** A leaf pattern against the event's value: any condition matching any of the field's leaf values. */
function matchLeaf(conditions: readonly EventPatternValue[], node: unknown): boolean {
  const values = leafValues(node);
  return conditions.some((condition) => matchCondition(condition, values));
}

/** The leaf values of a field: none when missing or an object, each primitive element of an array. */
function leafValues(node: unknown): Leaf[] {
  if (node === undefined || isPlainObject(node)) return [];
  if (Array.isArray(node)) return node.flat(Number.POSITIVE_INFINITY).filter(isLeaf);
  return isLeaf(node) ? [node] : [];
}

function matchCondition(condition: EventPatternValue, values: Leaf[]): boolean {
  if (!isPlainObject(condition)) return values.some((value) => equalsExactly(condition as Leaf, value));
  const [operator, argument] = Object.entries(condition)[0] as [string, unknown];
  if (operator === 'exists') return argument === values.length > 0;
  return values.some((value) => matchOperator(operator, argument, value));
}

function equalsExactly(expected: Leaf, value: Leaf): boolean {
  return typeof expected === typeof value && expected === value;
}

function matchOperator(operator: string, argument: unknown, value: Leaf): boolean {
  switch (operator) {
    case 'prefix':
      return typeof value === 'string' && affix(argument, value, (text, part) => text.startsWith(part));
    case 'suffix':
      return typeof value === 'string' && affix(argument, value, (text, part) => text.endsWith(part));
    case 'equals-ignore-case':
      return typeof value === 'string' && foldCase(value) === foldCase(argument as string);
    case 'wildcard':
      return typeof value === 'string' && wildcardRegExp(argument as string).test(value);
    case 'anything-but':
      return !isExcluded(argument, value);
    case 'numeric':
      return typeof value === 'number' && inRange(numericRangeOf(argument as unknown[]), value);
    case 'cidr':
      return typeof value === 'string' && inCidr(argument as string, value);
    default:
      return false;
  }
}

function affix(argument: unknown, value: string, test: (text: string, part: string) => boolean): boolean {
  if (typeof argument === 'string') return test(value, argument);
  const ignoringCase = (argument as Record<string, string>)['equals-ignore-case'] as string;
  return test(foldCase(value), foldCase(ignoringCase));
}

/**
 * What anything-but excludes. [ruler] It matches every leaf value but the excluded ones, values of
 * another JSON type included (`{"anything-but": "x"}` matches 5 and null); the field must still exist.
 */
function isExcluded(argument: unknown, value: Leaf): boolean {
  if (typeof argument === 'string' || typeof argument === 'number') return equalsExactly(argument, value);
  if (Array.isArray(argument)) return argument.some((excluded) => equalsExactly(excluded, value));
  if (typeof value !== 'string') return false;
  const [inner, innerArgument] = Object.entries(argument as PatternObject)[0] as [string, unknown];
  const listed = Array.isArray(innerArgument) ? (innerArgument as string[]) : [innerArgument as string];
  switch (inner) {
    case 'prefix':
      return value.startsWith(innerArgument as string);
    case 'suffix':
      return value.endsWith(innerArgument as string);
    case 'equals-ignore-case':
      return listed.some((excluded) => foldCase(excluded) === foldCase(value));
    default: // wildcard
      return listed.some((excluded) => wildcardRegExp(excluded).test(value));
  }
}

const numericRanges = new WeakMap<readonly unknown[], NumericRange>();

function numericRangeOf(terms: readonly unknown[]): NumericRange {
  let range = numericRanges.get(terms);
  if (!range) {
    range = parseNumericRange(terms) as NumericRange;
    numericRanges.set(terms, range);
  }
  return range;
}

function inRange({ lower, upper }: NumericRange, value: number): boolean {
  // [ruler] Numbers outside ±5.0e9 have no comparable form: no numeric condition matches them.
  if (Math.abs(value) > NUMERIC_LIMIT) return false;
  if (lower && (lower.inclusive ? value < lower.value : value <= lower.value)) return false;
  if (upper && (upper.inclusive ? value > upper.value : value >= upper.value)) return false;
  return true;
}

/** Unicode case folding is closest to what Java's case-insensitive comparison does; lower-casing both will do. */
function foldCase(text: string): string {
  return text.toLowerCase();
}

const wildcardCache = new Map<string, RegExp>();

function wildcardRegExp(wildcard: string): RegExp {
  let regExp = wildcardCache.get(wildcard);
  if (!regExp) {
    let source = '';
    for (let index = 0; index < wildcard.length; index++) {
      const char = wildcard[index] as string;
      if (char === '\\') source += escapeRegExp(wildcard[++index] as string);
      else source += char === '*' ? '.*' : escapeRegExp(char);
    }
    regExp = new RegExp(`^${source}$`, 's');
    wildcardCache.set(wildcard, regExp);
  }
  return regExp;
}

function escapeRegExp(char: string): string {
  return char.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

function parseCidr(cidr: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const match = /^([^/]+)\/(\d{1,3})$/.exec(cidr);
  if (!match) return undefined;
  const [, address, bits] = match as unknown as [string, string, string];
  const version = isIP(address);
  const prefix = Number(bits);
  if (version === 0 || prefix > (version === 4 ? 32 : 128)) return undefined;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

const cidrCache = new Map<string, { list: BlockList; family: 'ipv4' | 'ipv6' }>();

function inCidr(cidr: string, value: string): boolean {
  let entry = cidrCache.get(cidr);
  if (!entry) {
    const { address, prefix, family } = parseCidr(cidr) as NonNullable<ReturnType<typeof parseCidr>>;
    const list = new BlockList();
    list.addSubnet(address, prefix, family);
    entry = { list, family };
    cidrCache.set(cidr, entry);
  }
  const version = isIP(value);
  if (version === 0 || (version === 4) !== (entry.family === 'ipv4')) return false;
  return entry.list.check(value, entry.family);
}

// ---------------------------------------------------------------------------------------------

function isPlainObject(value: unknown): value is PatternObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isSingleKey(value: unknown, key: string): value is PatternObject {
  return isPlainObject(value) && Object.keys(value).length === 1 && Object.hasOwn(value, key);
}

function isLeaf(value: unknown): value is Leaf {
  return value === null || ['string', 'number', 'boolean'].includes(typeof value);
}

function at(path: string[]): string {
  return path.length === 0 ? 'pattern' : path.join('.');
}
