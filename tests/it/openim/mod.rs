//! The OpenIM face (`/group/*`, `/auth/*`), through real servers: the
//! gateway with `[openim]` in front of the simulator.

/// Answers as open-im-server's, source line by source line.
mod fidelity;
/// Group info: create, set, get, the field mapping, the code table.
mod group;
/// Bad input: OpenIM's envelope for every case, nothing reaching the vendor.
mod hardening;
/// Membership: every route, the life-cycle, paging, partial failures.
mod member;
/// Mutes through the vendor's legacy group API.
mod mute;
/// Offset paging over the vendor's tokens at 10,000 members and groups.
mod paging;
/// OpenIM's permission rules for user tokens.
mod perm;
/// OpenIM's own test script, replayed.
mod script;
/// Tokens: admin tokens, the pre-3.8.1 token routes, failed attempts.
mod token;
