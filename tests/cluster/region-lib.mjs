// Helpers for the multi-region tests (docs/multi-region.md): one Raft
// cluster per region on fixed loopback addresses, with the guide's region
// variables, built on raft-lib.mjs.
import { RaftCluster, http, cypher, waitFor } from './raft-lib.mjs';

// Node ids must differ between regions: the transport keys peers by id.
export class RegionCluster extends RaftCluster {
  constructor({ region, prefix, remote, strategy = 'last_write_wins', hostOffset = 0 }) {
    super({
      prefix,
      hostOffset,
      n: 3,
      clusterId: `${region}-cluster`,
      env: {
        NORNICDB_CLUSTER_REGION_ID: region,
        NORNICDB_CLUSTER_REMOTE_REGIONS: remote,
        NORNICDB_CLUSTER_CROSS_REGION_MODE: 'async',
        NORNICDB_CLUSTER_CONFLICT_STRATEGY: strategy,
      },
    });
    this.region = region;
  }

  id(i) { return `${this.region}-${i}`; }

  peersOf(i, ids = this.ids) {
    return ids.filter((j) => j !== i).map((j) => `${this.id(j)}:${this.addr(j)}`).join(',');
  }

  start(i, opts = {}) {
    return super.start(i, {
      ...opts,
      env: { NORNICDB_CLUSTER_MODE: 'multi_region', NORNICDB_CLUSTER_NODE_ID: this.id(i), ...(opts.env ?? {}) },
    });
  }

  async waitLeader(timeoutMs = 20000, among = this.live()) {
    return waitFor(`one leader in ${this.region}`, async () => {
      const states = await Promise.all(among.map((i) => this.state(i)));
      const leaders = new Set(states.map((s) => s.leader));
      if (leaders.size !== 1 || states[0].leader == null) return null;
      const li = Number(states[0].leader.slice(this.region.length + 1));
      const ls = states[among.indexOf(li)];
      if (!ls || ls.role !== 'leader' || !ls.writes_ready) return null;
      return li;
    }, timeoutMs);
  }

  async regions(i) {
    return (await http(this.node(i), '/admin/cluster/status')).body.regions;
  }
}

/** The two regions of the tests: us-east on 127.0.0.31-33, eu-west on 127.0.0.41-43. */
export function twoRegions(strategy = 'last_write_wins') {
  return [
    new RegionCluster({ region: 'us-east', prefix: '127.0.0.3', remote: 'eu-west:127.0.0.41:7688', strategy }),
    new RegionCluster({ region: 'eu-west', prefix: '127.0.0.4', remote: 'us-east:127.0.0.31:7688', strategy }),
  ];
}

export async function count(c, i, label) {
  const rows = await cypher(c.node(i), `MATCH (n:${label}) RETURN count(n) AS c`);
  return rows[0].c;
}

export async function waitEverywhere(regions, label, n, timeoutMs = 20000) {
  for (const c of regions) {
    for (const i of c.ids) {
      await waitFor(`${n} :${label} on ${c.id(i)}`, async () => (await count(c, i, label)) === n, timeoutMs);
    }
  }
}

export async function waitPrimary(regions, region, timeoutMs = 20000) {
  for (const c of regions) {
    for (const i of c.ids) {
      await waitFor(`${c.id(i)} to know ${region} is primary`, async () => {
        const r = await c.regions(i);
        return r && r.primary === region;
      }, timeoutMs);
    }
  }
}

/** Waits until every node of `regions` has exactly one :Doc whose v is `v`. */
export async function waitDocValue(regions, v, timeoutMs = 30000) {
  for (const c of regions) {
    for (const i of c.ids) {
      await waitFor(`Doc.v = ${v} on ${c.id(i)}`, async () => {
        const rows = await cypher(c.node(i), 'MATCH (d:Doc) RETURN d.v AS v');
        return rows.length === 1 && rows[0].v === v;
      }, timeoutMs);
    }
  }
}

/**
 * The failover that leaves a conflict (region-manual, region-compact): with
 * eu-west primary, one :Doc everywhere; us-east goes down, eu-west writes
 * v = 'west' and goes down unshipped, us-east comes back, is promoted and
 * writes v = 'east', eu-west returns. Resolves to the two leaders once both
 * regions know us-east is primary and every node shows 'east'.
 */
export async function failoverConflict(east, west) {
  const both = [east, west];
  let [eastLeader, westLeader] = await Promise.all([east.waitLeader(), west.waitLeader()]);
  await waitPrimary(both, 'eu-west');
  await cypher(west.node(westLeader), "CREATE (:Doc {v: 'initial'})");
  await waitEverywhere(both, 'Doc', 1);

  for (const i of east.ids) await east.stop(i);
  await cypher(west.node(westLeader), "MATCH (d:Doc) SET d.v = 'west'");
  for (const i of west.ids) await west.stop(i);
  for (const i of east.ids) await east.start(i);
  eastLeader = await east.waitLeader();
  await waitFor('promotion of us-east', async () =>
    (await http(east.node(eastLeader), '/admin/region/promote', { method: 'POST', body: {} })).status === 200, 20000, 300);
  await waitFor('us-east accepts writes', async () => {
    await cypher(east.node(eastLeader), "MATCH (d:Doc) SET d.v = 'east'");
    return true;
  }, 20000, 300);
  for (const i of west.ids) await west.start(i);
  westLeader = await west.waitLeader();
  await waitPrimary(both, 'us-east', 30000);
  await waitDocValue(both, 'east');
  return { eastLeader, westLeader };
}
