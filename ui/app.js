import htm from 'htm';
import { h, render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { forgetCredentials, kilnApi, regionOfHost, saveCredentials, savedCredentials } from './api.js';
import { formatDuration, IN_FLIGHT, timelineOf } from './timeline.js';

/**
 * The Kiln dashboard: the team's environments, an environment's stacks and deployments, and each
 * deployment's steps as a timeline chart. Preact components written with htm (no build step). What is
 * on screen is polled from the API: every second while a deployment is in flight, every 5 s otherwise.
 * Pages are hash routes (`#/environments/<name>`), so the server only ever serves the one page.
 */

const html = htm.bind(h);

/** The API's root: the dashboard is `<root>ui/` (embedded `/ui/`, on AWS `/<stage>/ui/`). */
const API_ROOT = new URL('../', location.href);
const LIVE_POLL_MS = 1000;
const IDLE_POLL_MS = 5000;

function App() {
  const [credentials, setCredentials] = useState(() => savedCredentials(sessionStorage));
  const route = useHashRoute();
  if (!credentials) return html`<${SignIn} onSignedIn=${setCredentials} />`;
  const api = kilnApi(API_ROOT, credentials);
  const signOut = () => {
    forgetCredentials(sessionStorage);
    setCredentials(undefined);
  };
  const environment = /^#\/environments\/([^/]+)$/.exec(route)?.[1];
  return html`
    <header class="bar">
      <a href="#/" class="brand">Kiln</a>
      <span class="who">${credentials.kind === 'aws' ? `AWS ${credentials.accessKeyId}` : 'bearer token'}</span>
      <button type="button" onClick=${signOut}>Sign out</button>
    </header>
    <main>
      ${
        environment
          ? html`<${EnvironmentPage} key=${environment} api=${api} name=${decodeURIComponent(environment)} />`
          : html`<${EnvironmentList} api=${api} />`
      }
    </main>
  `;
}

function useHashRoute() {
  const [route, setRoute] = useState(location.hash);
  useEffect(() => {
    const onChange = () => setRoute(location.hash);
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

/**
 * Loads `load()` now, then again after `intervalOf(latest)` ms, until the component goes or `deps` change.
 * Answers the latest data and the latest error (the data stays on screen when a poll fails).
 */
function usePolling(load, intervalOf, deps) {
  const [state, setState] = useState({ data: undefined, error: undefined });
  useEffect(() => {
    let stopped = false;
    let timer;
    const poll = async () => {
      let data;
      try {
        data = await load();
        if (!stopped) setState({ data, error: undefined });
      } catch (error) {
        if (!stopped) setState((previous) => ({ data: previous.data, error }));
      }
      if (!stopped) timer = setTimeout(poll, intervalOf(data));
    };
    poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, deps);
  return state;
}

/** A heading that takes focus when its page opens, so keyboard and screen-reader users start there. */
function PageHeading({ children }) {
  const ref = useRef(null);
  useEffect(() => ref.current?.focus(), []);
  return html`<h1 tabindex="-1" ref=${ref}>${children}</h1>`;
}

function Problem({ error }) {
  return error ? html`<p class="problem" role="alert">${error.message}</p>` : null;
}

function SignIn({ onSignedIn }) {
  const region = regionOfHost(location.hostname);
  const [kind, setKind] = useState(region ? 'aws' : 'token');
  const [error, setError] = useState(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const field = (name) => String(form.get(name) ?? '').trim();
    const credentials =
      kind === 'token'
        ? { kind, token: field('token') }
        : {
            kind,
            accessKeyId: field('accessKeyId'),
            secretAccessKey: field('secretAccessKey'),
            ...(field('sessionToken') ? { sessionToken: field('sessionToken') } : {}),
            region: field('region'),
          };
    setBusy(true);
    try {
      // Checked before it is kept: a mistyped token says so here, not on every page.
      await kilnApi(API_ROOT, credentials).get('environments');
      saveCredentials(sessionStorage, credentials);
      onSignedIn(credentials);
    } catch (failure) {
      setError(failure);
      setBusy(false);
    }
  };
  const secret = (id, label, hint, required = true) => html`
    <label for=${id}>${label}</label>
    ${hint ? html`<span class="hint" id=${`${id}-hint`}>${hint}</span>` : null}
    <input id=${id} name=${id} type="password" autocomplete="off" spellcheck=${false} required=${required}
      aria-describedby=${hint ? `${id}-hint` : undefined} />
  `;
  return html`
    <main class="sign-in">
      <${PageHeading}>Sign in to Kiln<//>
      <form method="post" onSubmit=${submit}>
        <fieldset>
          <legend>Sign in with</legend>
          <label class="choice"><input type="radio" name="kind" value="token" checked=${kind === 'token'}
            onChange=${() => setKind('token')} /> a Kiln bearer token (embedded Kiln)</label>
          <label class="choice"><input type="radio" name="kind" value="aws" checked=${kind === 'aws'}
            onChange=${() => setKind('aws')} /> AWS credentials (Kiln on AWS, SigV4)</label>
        </fieldset>
        ${
          kind === 'token'
            ? secret(
                'token',
                'Bearer token',
                'One of KILN_TOKENS (npm start prints the teams; the default is kiln-dev-token).',
              )
            : html`
              <label for="accessKeyId">Access key ID</label>
              <input id="accessKeyId" name="accessKeyId" autocomplete="off" spellcheck=${false} required />
              ${secret('secretAccessKey', 'Secret access key')}
              ${secret('sessionToken', 'Session token', 'For a role session (kiln-team-<team>): aws configure export-credentials.', false)}
              <label for="region">Region</label>
              <input id="region" name="region" value=${region} autocomplete="off" spellcheck=${false} required />
            `
        }
        <p class="hint">Kept in this tab only (sessionStorage) until you sign out or close it.</p>
        <${Problem} error=${error} />
        <button type="submit" disabled=${busy}>Sign in</button>
      </form>
    </main>
  `;
}

function EnvironmentList({ api }) {
  const { data, error } = usePolling(
    () => api.get('environments'),
    (latest) => (latest?.environments.some((e) => e.deploymentInProgress) ? LIVE_POLL_MS : IDLE_POLL_MS),
    [],
  );
  const teams = Map.groupBy(data?.environments ?? [], (environment) => environment.team);
  return html`
    <${PageHeading}>Environments<//>
    <${Problem} error=${error} />
    ${!data ? html`<p>Loading…</p>` : teams.size === 0 ? html`<p>Your team has no environments yet.</p>` : null}
    ${[...teams].map(
      ([team, environments]) => html`
        <section aria-labelledby=${`team-${team}`}>
          <h2 id=${`team-${team}`}>Team ${team}</h2>
          <table>
            <thead>
              <tr><th scope="col">Environment</th><th scope="col">Tier</th><th scope="col">Status</th>
                <th scope="col">Live version</th><th scope="col">Endpoint</th></tr>
            </thead>
            <tbody>
              ${environments.map(
                (environment) => html`
                  <tr>
                    <th scope="row"><a href=${`#/environments/${encodeURIComponent(environment.name)}`}>${environment.name}</a></th>
                    <td>${environment.tier}</td>
                    <td><${Status} value=${environment.status} /></td>
                    <td>${environment.liveStack?.version ?? '—'}</td>
                    <td><${Endpoint} url=${environment.endpoint} /></td>
                  </tr>
                `,
              )}
            </tbody>
          </table>
        </section>
      `,
    )}
  `;
}

function Status({ value }) {
  return html`<span class=${`status status-${value}`}>${value.replace('_', ' ')}</span>`;
}

/** An environment's endpoint as a link, only when it is an http(s) URL. */
function Endpoint({ url }) {
  if (!url) return '—';
  return /^https?:\/\//.test(url) ? html`<a href=${url} rel="noreferrer">${url}</a>` : url;
}

function EnvironmentPage({ api, name }) {
  const path = `environments/${encodeURIComponent(name)}`;
  // The deployment shown: the one chosen, else the environment's latest.
  const [chosen, setChosen] = useState(undefined);
  const { data, error } = usePolling(
    async () => {
      const [environment, { stacks }, { deployments }] = await Promise.all([
        api.get(path),
        api.get(`${path}/stacks`),
        api.get(`${path}/deployments?limit=10`),
      ]);
      const id = chosen ?? environment.latestDeploymentId ?? deployments[0]?.id;
      const deployment = id ? await api.get(`${path}/deployments/${encodeURIComponent(id)}`) : undefined;
      return { environment, stacks, deployments, deployment };
    },
    (latest) =>
      latest &&
      (latest.environment.deploymentInProgress ||
        latest.deployments.some((d) => IN_FLIGHT.has(d.status)) ||
        IN_FLIGHT.has(latest.deployment?.status))
        ? LIVE_POLL_MS
        : IDLE_POLL_MS,
    [chosen],
  );
  if (!data) {
    return html`<${PageHeading}>${name}<//><${Problem} error=${error} />${error ? null : html`<p>Loading…</p>`}`;
  }
  const { environment, stacks, deployments, deployment } = data;
  const shown = stacks.filter((stack) => stack.status !== 'decommissioned');
  return html`
    <p><a href="#/">← All environments</a></p>
    <${PageHeading}>${environment.name}<//>
    <${Problem} error=${error} />
    <dl class="facts">
      <div><dt>Team</dt><dd>${environment.team}</dd></div>
      <div><dt>Tier</dt><dd>${environment.tier}</dd></div>
      <div><dt>Status</dt><dd><${Status} value=${environment.status} /></dd></div>
      <div><dt>Live version</dt><dd>${environment.liveStack?.version ?? '—'}</dd></div>
      <div><dt>Endpoint</dt><dd><${Endpoint} url=${environment.endpoint} /></dd></div>
    </dl>
    <${DeployForm} api=${api} path=${path} onStarted=${setChosen} />
    <section aria-labelledby="stacks">
      <h2 id="stacks">Stacks and traffic</h2>
      ${
        shown.length === 0
          ? html`<p>No stack runs.</p>`
          : html`
            <table>
              <thead><tr><th scope="col">Stack</th><th scope="col">Version</th><th scope="col">Status</th>
                <th scope="col">Instances</th><th scope="col">Traffic</th></tr></thead>
              <tbody>
                ${shown.map(
                  (stack) => html`
                    <tr>
                      <th scope="row">${stack.stackId}</th>
                      <td>${stack.version}</td>
                      <td><${Status} value=${stack.status} /></td>
                      <td>${stack.instances.length}</td>
                      <td class="weight">
                        <meter min="0" max="100" value=${stack.weight} aria-label=${`${stack.stackId} traffic`}></meter>
                        ${stack.weight} %
                      </td>
                    </tr>
                  `,
                )}
              </tbody>
            </table>
          `
      }
    </section>
    <section aria-labelledby="deployments">
      <h2 id="deployments">Deployments</h2>
      ${deployment ? html`<${DeploymentTimeline} deployment=${deployment} />` : html`<p>No deployment yet.</p>`}
      <ul class="deployments" aria-label="Recent deployments">
        ${deployments.map(
          (d) => html`
            <li>
              <button type="button" aria-pressed=${d.id === deployment?.id} onClick=${() => setChosen(d.id)}>
                ${new Date(d.requestedAt).toLocaleString()} · ${d.action} ${d.version ?? ''} · ${d.trigger}
              </button>
              <${Status} value=${d.status} />
            </li>
          `,
        )}
      </ul>
    </section>
  `;
}

function DeployForm({ api, path, onStarted }) {
  const [error, setError] = useState(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    const target = event.currentTarget;
    const form = new FormData(target);
    const version = String(form.get('version') ?? '').trim();
    const reason = String(form.get('reason') ?? '').trim();
    setBusy(true);
    setError(undefined);
    try {
      const { deploymentId } = await api.post(`${path}/deployments`, {
        ...(version ? { version } : {}),
        ...(reason ? { reason } : {}),
      });
      target.reset();
      onStarted(deploymentId);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return html`
    <form class="deploy" method="post" onSubmit=${submit} aria-labelledby="deploy">
      <h2 id="deploy">Start a deployment</h2>
      <div class="fields">
        <div>
          <label for="version">Version</label>
          <span class="hint" id="version-hint">Empty: redeploy the current spec.</span>
          <input id="version" name="version" autocomplete="off" aria-describedby="version-hint" />
        </div>
        <div>
          <label for="reason">Reason</label>
          <input id="reason" name="reason" autocomplete="off" maxlength="500" />
        </div>
        <button type="submit" disabled=${busy}>Start deployment</button>
      </div>
      <${Problem} error=${error} />
    </form>
  `;
}

/** Chart geometry, in SVG user units (the chart scales to its box). */
const CHART = { width: 760, label: 210, right: 70, axis: 24, row: 26, bar: 16 };

/** A deployment's steps as a Gantt chart: one bar per step on a time axis, the open bar growing while it runs. */
function DeploymentTimeline({ deployment }) {
  const { bars, ticks } = timelineOf(deployment, Date.now());
  const plot = CHART.width - CHART.label - CHART.right;
  const height = CHART.axis + bars.length * CHART.row + 6;
  const x = (fraction) => CHART.label + fraction * plot;
  const summary = bars
    .map((bar) => `${bar.name}${bar.running ? '' : `, ${formatDuration(bar.durationMs)}`}`)
    .join('; ');
  return html`
    <figure class="timeline" aria-labelledby="timeline-caption">
      <figcaption id="timeline-caption">
        Deployment ${deployment.id}${deployment.version ? ` of ${deployment.version}` : ''}:
        <span aria-live="polite" data-deployment-status=${deployment.status}><${Status} value=${deployment.status} /></span>
        ${deployment.error ? html` <span class="problem-text">${deployment.error.name}: ${deployment.error.message}</span>` : null}
      </figcaption>
      <svg viewBox=${`0 0 ${CHART.width} ${height}`} role="img" aria-label=${`Timeline of its steps: ${summary || 'none yet'}`}>
        ${ticks.map(
          (tick) => html`
            <g class="tick">
              <line x1=${x(tick.offset)} x2=${x(tick.offset)} y1=${CHART.axis - 6} y2=${height} />
              <text x=${x(tick.offset)} y=${CHART.axis - 10} text-anchor="middle">${tick.label}</text>
            </g>
          `,
        )}
        ${bars.map((bar, i) => {
          const y = CHART.axis + i * CHART.row;
          return html`
            <g class=${bar.running ? 'step running' : 'step'} data-step=${bar.name} data-running=${bar.running}>
              <title>${bar.name}${bar.detail ? ` (${bar.detail})` : ''}: ${formatDuration(bar.durationMs)}</title>
              <text class="name" x=${CHART.label - 8} y=${y + CHART.row / 2 + 4} text-anchor="end">${truncate(bar.name, 30)}</text>
              <rect x=${x(bar.offset)} y=${y + (CHART.row - CHART.bar) / 2} width=${Math.max(2, bar.width * plot)}
                height=${CHART.bar} rx="3" />
              <text class="duration" x=${x(bar.offset + bar.width) + 6} y=${y + CHART.row / 2 + 4}>
                ${bar.running ? `${formatDuration(bar.durationMs)}…` : formatDuration(bar.durationMs)}
              </text>
            </g>
          `;
        })}
      </svg>
    </figure>
  `;
}

function truncate(text, length) {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

render(html`<${App} />`, document.getElementById('app'));
