// The divergences' names, apart from their arithmetic (divergences.ts), so that distill's option
// table, and with it `distillery distill --help`, loads without the tensor layer.
export const DIVERGENCE_NAMES = ['forward-kl', 'reverse-kl', 'jsd', 'skew-kl', 'tvd'] as const;
export type DivergenceName = (typeof DIVERGENCE_NAMES)[number];
