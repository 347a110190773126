import { type Actor, authorize } from './actors.ts';
import { ConflictError, ForbiddenError, FrozenError, NotFoundError, VersionConflictError } from './errors.ts';
import type { Calendar } from './idle.ts';
import { freezeEnded, freezeStarted, type LifecycleEvent } from './lifecycle-events.ts';
import type { AnnouncePorts, Ports } from './ports/index.ts';
import type { DeploymentAction, DeploymentTrigger, Environment, Tier } from './types.ts';

/**
 * Freeze windows (PUT/GET/DELETE /freezes/{id}): times when a team's changes wait or are refused. A
 * freeze belongs to the team of the freeze-manager who made it and covers that team's environments its
 * selector names. While one covers an environment, a deployment asked for by a person or a Git push is
 * held until the freeze ends (`hold`) or refused (`refuse`), unless it breaks the glass (a reason, scored
 * as high risk and marked in the audit trail and on the bus). Sleep, wake, rollbacks and Kiln's own drift
 * repairs are never held: they keep running things as they were.
 */

export type FreezeMode = 'hold' | 'refuse';

/** Which of the team's environments a freeze covers: all its fields must match (absent: any). */
export interface FreezeSelector {
  /** Only the freeze's own team may be named (a freeze never reaches another team). */
  teams?: string[];
  tiers?: Tier[];
  environments?: string[];
}

/** When a freeze applies: once (`start`–`end`), or from every `cron` fire for `duration`. */
export type FreezeSchedule =
  | { start: string; end: string; timezone?: string }
  | { cron: string; duration: string; timezone?: string };

export type FreezeRequest = FreezeSchedule & {
  id: string;
  team: string;
  selector?: FreezeSelector;
  mode: FreezeMode;
  reason: string;
};

export type Freeze = FreezeRequest & {
  createdBy: string;
  createdAt: string;
  updatedAt: string;
  version: number;
  /** The window whose start was announced on the bus, until its end is announced too. */
  announced?: FreezeWindow;
};

/** One stretch of time a freeze applies: [start, end). */
export interface FreezeWindow {
  start: string;
  end: string;
}

/** A freeze and the window of it that covers now. */
export interface ActiveFreeze {
  freeze: Freeze;
  window: FreezeWindow;
}

/** Who asks for a change, and what: freezes hold or refuse only deployments that people and pushes ask for. */
export function isFreezable(action: DeploymentAction, trigger: DeploymentTrigger): boolean {
  return action === 'deploy' && (trigger === 'api' || trigger === 'git-push');
}

type FreezePorts = Pick<Ports, 'store' | 'clock'>;

/** Creates (`created` true) or replaces the freeze; `ifMatch` guards a replacement. Announces a window that starts now. */
export async function putFreeze(
  ports: AnnouncePorts,
  actor: Actor,
  request: FreezeRequest,
  ifMatch?: number,
): Promise<{ freeze: Freeze; created: boolean }> {
  await authorizeFreezeRequest(ports, actor, request);
  const existing = await ports.store.getFreeze(request.id);
  const now = ports.clock.now().toISOString();
  if (existing) {
    authorize(actor, 'freeze:manage', { name: existing.id, team: existing.team });
    if (ifMatch !== undefined && ifMatch !== existing.version) {
      throw new VersionConflictError(
        `freeze ${request.id} is at version ${existing.version}, not ${ifMatch}: read it again and retry`,
      );
    }
  } else if (ifMatch !== undefined) {
    throw new VersionConflictError(
      `freeze ${request.id} does not exist, so If-Match ${ifMatch} cannot match`,
    );
  }
  const freeze = await ports.store.putFreeze(
    {
      ...request,
      createdBy: existing?.createdBy ?? actor.principal,
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
      // A replaced freeze keeps the window it announced; whether it still applies is decided below.
      ...(existing?.announced ? { announced: existing.announced } : {}),
    },
    existing?.version,
  );
  await auditFreeze(ports, actor, freeze, existing ? 'freeze.replaced' : 'freeze.created');
  return { freeze: (await announceFreeze(ports, freeze)) ?? freeze, created: !existing };
}

/** The freeze, if the actor may read it (`freeze:read`) or manage it (`freeze:manage`). */
export async function ownedFreeze(
  ports: FreezePorts,
  actor: Pick<Actor, 'team' | 'principal' | 'roles'>,
  id: string,
  action: 'freeze:read' | 'freeze:manage',
): Promise<Freeze> {
  const freeze = await ports.store.getFreeze(id);
  if (!freeze) throw new NotFoundError(`freeze ${id} does not exist`);
  authorize(actor, action, { name: freeze.id, team: freeze.team });
  return freeze;
}

/** Deletes the freeze: what it held goes on at its next check (within a minute); a window it announced ends now. */
export async function deleteFreeze(ports: AnnouncePorts, actor: Actor, id: string): Promise<void> {
  const freeze = await ownedFreeze(ports, actor, id, 'freeze:manage');
  await ports.store.deleteFreeze(id);
  await auditFreeze(ports, actor, freeze, 'freeze.deleted');
  if (freeze.announced) {
    const now = ports.clock.now().toISOString();
    await ports.events.publish([freezeEnded(freeze, freeze.announced, now, 'deleted')]);
  }
}

/** Whether the freeze's selector covers the environment (always within the freeze's own team). */
export function covers(freeze: Freeze, environment: Pick<Environment, 'name' | 'team' | 'tier'>): boolean {
  const { teams, tiers, environments } = freeze.selector ?? {};
  return (
    freeze.team === environment.team &&
    (!teams || teams.includes(environment.team)) &&
    (!tiers || tiers.includes(environment.tier)) &&
    (!environments || environments.includes(environment.name))
  );
}

/**
 * The window of the freeze that covers `at`, if one does. A recurring freeze's window starts at a cron
 * fire and lasts its duration; windows that overlap (a duration longer than the gap to the next fire)
 * are one window, to the end of the last.
 */
export function windowAt(freeze: Freeze, at: Date, calendar: Calendar): FreezeWindow | undefined {
  if ('start' in freeze) {
    return Date.parse(freeze.start) <= at.getTime() && at.getTime() < Date.parse(freeze.end)
      ? { start: new Date(freeze.start).toISOString(), end: new Date(freeze.end).toISOString() }
      : undefined;
  }
  const length = durationSeconds(freeze.duration) * 1000;
  const start = calendar(freeze.cron, new Date(at.getTime() - length), freeze.timezone ?? 'UTC');
  if (!start || start.getTime() > at.getTime()) return undefined;
  let end = start.getTime() + length;
  let fire = calendar(freeze.cron, start, freeze.timezone ?? 'UTC');
  for (let merged = 0; fire && fire.getTime() < end && merged < MAX_MERGED_WINDOWS; merged++) {
    end = Math.max(end, fire.getTime() + length);
    fire = calendar(freeze.cron, fire, freeze.timezone ?? 'UTC');
  }
  return { start: start.toISOString(), end: new Date(end).toISOString() };
}

/** A freeze whose windows never stop overlapping is frozen this far ahead at most (then checked again). */
const MAX_MERGED_WINDOWS = 100;

/** The next window of the freeze that starts after `at`, if any (for GET: what is coming). */
export function nextWindow(freeze: Freeze, at: Date, calendar: Calendar): FreezeWindow | undefined {
  if ('start' in freeze) {
    return Date.parse(freeze.start) > at.getTime()
      ? { start: new Date(freeze.start).toISOString(), end: new Date(freeze.end).toISOString() }
      : undefined;
  }
  const start = calendar(freeze.cron, at, freeze.timezone ?? 'UTC');
  return start ? windowAt(freeze, start, calendar) : undefined;
}

/** A freeze as the API shows it: as made, with its window now (`active`) and the next one (`next`). */
export async function describeFreeze(freeze: Freeze, at: Date) {
  const calendar = await calendarFor([freeze]);
  const { announced: _announced, ...shown } = freeze;
  return {
    ...shown,
    active: windowAt(freeze, at, calendar) ?? null,
    next: nextWindow(freeze, at, calendar) ?? null,
  };
}

/** `PnDTnHnM` (days, hours, minutes; ISO 8601, as freezes take it) in seconds. */
export function durationSeconds(duration: string): number {
  const match = DURATION.exec(duration);
  if (!match) throw new Error(`not a duration: ${duration}`);
  const [, days, hours, minutes] = match.map((part) => Number(part ?? 0));
  return ((days * 24 + hours) * 60 + minutes) * 60;
}

/** ISO 8601 durations of days, hours and minutes: `P2D`, `PT12H`, `P1DT6H30M`. */
export const DURATION = /^P(?:(\d{1,3})D)?(?:T(?:(\d{1,4})H)?(?:(\d{1,6})M)?)?$/;

/** The calendar recurring freezes are read with, loaded (croner) only when one is. */
export async function calendarFor(freezes: readonly Freeze[]): Promise<Calendar> {
  if (freezes.every((freeze) => 'start' in freeze)) return NO_CRONS;
  return (await import('./schedule-expressions.ts')).nextFireTime;
}

const NO_CRONS: Calendar = (expression) => {
  throw new Error(`no calendar was loaded to read ${expression}`);
};

/** The freezes that cover the environment at `at`, with their windows. */
export async function activeFreezes(
  ports: FreezePorts,
  environment: Pick<Environment, 'name' | 'team' | 'tier'>,
  at: Date,
): Promise<ActiveFreeze[]> {
  const freezes = (await ports.store.listFreezesByTeam(environment.team)).filter((freeze) =>
    covers(freeze, environment),
  );
  const calendar = await calendarFor(freezes);
  return freezes.flatMap((freeze) => {
    const window = windowAt(freeze, at, calendar);
    return window ? [{ freeze, window }] : [];
  });
}

/** What the freezes covering an environment do to a deployment now. */
export type FreezeVerdict =
  | { kind: 'open' }
  | { kind: 'refused'; by: ActiveFreeze }
  /** Held until `until` (the latest end among the holding freezes), then checked again. */
  | { kind: 'held'; by: ActiveFreeze[]; until: string }
  | { kind: 'broken'; by: ActiveFreeze[] };

export function verdictOf(active: readonly ActiveFreeze[], breakGlass: boolean): FreezeVerdict {
  if (active.length === 0) return { kind: 'open' };
  if (breakGlass) return { kind: 'broken', by: [...active] };
  const refusing = active.find(({ freeze }) => freeze.mode === 'refuse');
  if (refusing) return { kind: 'refused', by: refusing };
  const until = active.map(({ window }) => window.end).sort()[active.length - 1] as string;
  return { kind: 'held', by: [...active], until };
}

/** The error a refused deployment is answered (409) or ended with. */
export function frozenError(environment: string, { freeze, window }: ActiveFreeze): FrozenError {
  return new FrozenError(
    `environment ${environment} is frozen by ${freeze.id} until ${window.end} (${freeze.reason}): ` +
      'deploy after it, or break the glass with a reason',
  );
}

/** A break-glass request where no freeze applies: refused, so that the mark means what it says. */
export function nothingToBreak(environment: string): ConflictError {
  return new ConflictError(
    `no freeze covers environment ${environment} now: deploy without breakGlass (it is for freezes)`,
  );
}

/**
 * The upkeep that announces freezes (a schedule, every minute): for every freeze, `Freeze Started` when a
 * window covers now and was not announced, `Freeze Ended` when the announced window is over. Published
 * before the freeze records it (at least once; a copy has the same `eventId`), and recorded by a write
 * conditional on what was read, so concurrent runs announce a transition once in all but a crash's case.
 */
export async function announceFreezes(ports: AnnouncePorts): Promise<{ started: string[]; ended: string[] }> {
  const freezes = await ports.store.listAllFreezes();
  const calendar = await calendarFor(freezes);
  const report = { started: [] as string[], ended: [] as string[] };
  for (const freeze of freezes) {
    const before = freeze.announced;
    const after = await announceFreeze(ports, freeze, calendar);
    if (after?.announced && after.announced.start !== before?.start) report.started.push(freeze.id);
    if (before && after && after.announced?.start !== before.start) report.ended.push(freeze.id);
  }
  return report;
}

/** Announces the freeze's transition now, if it has one; the freeze as recorded after, if it changed. */
async function announceFreeze(
  ports: AnnouncePorts,
  freeze: Freeze,
  calendar?: Calendar,
): Promise<Freeze | undefined> {
  const now = ports.clock.now();
  const window = windowAt(freeze, now, calendar ?? (await calendarFor([freeze])));
  const announced = freeze.announced;
  if (announced && window?.start === announced.start) return undefined;
  if (!announced && !window) return undefined;
  const events: LifecycleEvent[] = [];
  if (announced) events.push(freezeEnded(freeze, announced, now.toISOString(), 'over'));
  if (window) events.push(freezeStarted(freeze, window));
  await ports.events.publish(events);
  return ports.store.recordFreezeAnnounced(freeze, window ?? null);
}

/** Only a freeze-manager makes a freeze, for their own team, naming only that team and its environments. */
async function authorizeFreezeRequest(ports: FreezePorts, actor: Actor, request: FreezeRequest) {
  authorize(actor, 'freeze:manage', { name: request.id, team: request.team });
  for (const team of request.selector?.teams ?? []) {
    if (team !== request.team)
      throw new ForbiddenError(`team ${team} is not yours: a freeze covers its own team`);
  }
  for (const name of request.selector?.environments ?? []) {
    const environment = await ports.store.getEnvironment(name);
    if (environment && environment.team !== request.team) {
      throw new ForbiddenError(`environment ${name} belongs to another team`);
    }
  }
}

async function auditFreeze(ports: FreezePorts, actor: Actor, freeze: Freeze, action: string): Promise<void> {
  await ports.store.appendAudit({
    id: `freeze:${freeze.id}:${freeze.version}:${action}`,
    // Freezes have no environment: their audit events live in a partition of their own id.
    environment: `freeze:${freeze.id}`,
    at: ports.clock.now().toISOString(),
    actor: actor.principal,
    trigger: actor.trigger,
    action,
    reason: freeze.reason,
    detail: {
      mode: freeze.mode,
      selector: freeze.selector ?? {},
      ...('start' in freeze
        ? { start: freeze.start, end: freeze.end }
        : { cron: freeze.cron, duration: freeze.duration }),
    },
  });
}
