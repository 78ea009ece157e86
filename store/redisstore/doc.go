// Package redisstore is the shared store backend: replicas of canaryd
// point at the same Redis (single server, Sentinel or Cluster, through a
// go-redis UniversalClient) and see one state.
//
// # Key layout
//
// P is Options.Prefix ("canaryd:" by default). Everything about one
// target T lives under the hash tag {P target:T}, so it sits in one
// Cluster slot and the scripts that touch several of its keys at once are
// legal in Cluster:
//
//	{P target:T}:state            STRING  TargetState JSON
//	{P target:T}:watch:ID         STRING  Watch JSON
//	{P target:T}:watches          ZSET    index of T's watches (see below)
//	{P target:T}:watches:active   ZSET    index of T's watches not in a Final phase
//	{P target:T}:incident:ID      STRING  Incident JSON
//	{P target:T}:incidents        ZSET    index of T's incidents
//	{P target:T}:journal:PLAN     LIST    JournalEntry JSON, append order
//	{P target:T}:lease            STRING  lease JSON {holder, token, expires_at}
//	{P target:T}:events           LIST    Event JSON, newest EventRetention kept
//
// Global keys, each in its own slot and only ever touched one at a time:
//
//	P targets        SET   names of targets with watches, incidents or state
//	P dir:watch      HASH  watch ID    → target (written before the watch)
//	P dir:incident   HASH  incident ID → target (written before the incident)
//	P dir:plan       HASH  plan ID     → target (written before the first entry)
//	P overrides      HASH  override ID → Override JSON
//	P events         LIST  Event JSON of all targets, newest EventRetention kept
//
// Index members are record.SortKeyHex(time, ID) with score 0, so
// ZREVRANGEBYLEX lists newest first with ties broken by ID, the order the
// bbolt backend uses. The directories are written before the record they
// point to, so they are always a superset: a crash between the two leaves a
// directory entry without a record, which reads as "not found".
//
// # Atomicity
//
// Every write of a record goes through one Lua compare-and-set script: it
// writes the new value and updates the indexes only if the key still holds
// exactly the value the client read (or is absent, for creates). Updates
// (UpdateWatch, UpdateIncident, leases) read, apply their function in Go,
// and retry on a lost race, so concurrent updates are serialised and never
// lost. A fenced AppendJournal runs the same script on the lease key with
// no new value: the entry is pushed only if the lease is still exactly the
// one the client checked.
//
// # Leases and clocks
//
// Lease expiry is judged with the injected clock (Options.Clock), not Redis
// server time: expires_at is written from the acquirer's clock and compared
// with the checker's. Replicas' clocks must therefore agree to well within
// the lease TTL (NTP keeps them within milliseconds; TTLs are seconds). No
// Redis TTL (PX) is set on the lease key, because the fencing token is kept
// inside it and must never go back. The token only grows: a new holder, or
// the same holder after its lease expired, gets token+1.
//
// # Events
//
// AppendEvent pushes the event to its target's list and to the global
// list in one pipeline (two slots in Cluster, so not atomic: a crash in
// between can drop the event from one of the two views). Both lists are
// trimmed to Options.EventRetention entries (default 10,000): per target,
// and across all targets for the global list.
package redisstore
