/** `/environments/{name}[/…]`, each segment encoded. */
export function environmentPath(name: string, ...segments: string[]): string {
  return ['/environments', ...[name, ...segments].map(encodeURIComponent)].join('/');
}

/** A deployment's own page, steps included: `GET /environments/{name}/deployments/{id}`. */
export function deploymentPath(environment: string, id: string): string {
  return environmentPath(environment, 'deployments', id);
}

/** `/freezes/{id}`, the id encoded. */
export function freezePath(id: string): string {
  return `/freezes/${encodeURIComponent(id)}`;
}
