//! Group state and the membership rules.
//!
//! Every operation checks everything first and only then changes state, so
//! a refused call leaves the group exactly as it was (all or nothing).

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::reply::ApiError;
use super::validate::{ProfileParams, merge_ext};
use crate::entrust::{code, limit, role};

/// Members a group may hold (owner included). The docs give no number; 3000
/// is the vendor's usual default group size.
pub const MEMBER_MAX: usize = 3000;
/// Managers a group may hold (doc: group/manager/add.json).
pub const MANAGER_MAX: usize = limit::MANAGERS_MAX;
/// Users one member may follow in a group. Not documented; the follow
/// limit code 25419 exists, and 100 (the per-call maximum) is assumed.
pub const FOLLOW_MAX: usize = limit::FOLLOW_USERS_MAX;

#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub user_id: String,
    pub role: i64,
    pub nickname: String,
    pub extra: String,
    /// Join time, ms since the epoch.
    pub time: i64,
    /// Global join sequence; orders members that joined in the same ms and
    /// serves as the paging cursor.
    pub seq: u64,
}

/// One user's mute: in one group, or in every group (v4 mute list).
#[derive(Debug, Clone)]
pub(crate) struct Mute {
    pub user_id: String,
    /// Since when, ms since the epoch.
    pub since: i64,
    /// Until when (ms); `None` for a permanent mute.
    pub until: Option<i64>,
}

impl Mute {
    pub fn active(&self, now_ms: i64) -> bool {
        self.until.is_none_or(|u| u > now_ms)
    }
}

/// What leaving a group also removes (entrust `isDel*`, v4
/// `shouldDelete*`): the user's mute in the group, their place on its
/// allowed-sender list, and their follows (favorites) both ways.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Cleanup {
    pub mute: bool,
    pub allowed: bool,
    pub favorites: bool,
}

#[cfg(test)]
impl Cleanup {
    pub const NONE: Cleanup = Cleanup {
        mute: false,
        allowed: false,
        favorites: false,
    };
    pub const ALL: Cleanup = Cleanup {
        mute: true,
        allowed: true,
        favorites: true,
    };
}

#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub id: String,
    pub name: String,
    pub owner: String,
    /// Who created the group (group/query.json's `creator`).
    pub creator: String,
    pub profile: Map<String, Value>,
    pub permissions: Map<String, Value>,
    pub ext: Map<String, Value>,
    /// In join order (ascending `seq`).
    pub members: Vec<Member>,
    pub create_time: i64,
    pub seq: u64,
    /// Follower → (followed user, since when in ms), in follow order.
    pub follows: HashMap<String, Vec<(String, i64)>>,
    /// User → the remark name that user gave this group.
    pub remarks: HashMap<String, String>,
    /// Users muted in this group, in mute order (may hold expired ones).
    pub mutes: Vec<Mute>,
    /// Users who may speak while the group is frozen or they are muted, in
    /// the order added.
    pub allowed_senders: Vec<String>,
    /// Frozen (every member muted): the freeze's sequence number.
    pub frozen: Option<u64>,
}

impl Group {
    pub fn member(&self, user: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.user_id == user)
    }

    /// 25418 naming every listed user who is not a member.
    fn require_members(&self, users: &[String]) -> Result<(), ApiError> {
        let missing: Vec<&str> = users
            .iter()
            .filter(|u| self.member(u).is_none())
            .map(String::as_str)
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(not_in_group(&missing))
        }
    }

    fn member_mut(&mut self, user: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.user_id == user)
    }

    fn managers(&self) -> usize {
        self.members
            .iter()
            .filter(|m| m.role == role::MANAGER)
            .count()
    }

    /// Forgets every follow to or from `users` (`isDelFollowed=1`).
    fn drop_follows(&mut self, users: &[String]) {
        self.follows.retain(|f, _| !users.contains(f));
        for list in self.follows.values_mut() {
            list.retain(|(u, _)| !users.contains(u));
        }
    }

    /// What `users` leave behind when they leave, as `cleanup` says.
    fn clean_up(&mut self, users: &[String], cleanup: Cleanup) {
        if cleanup.favorites {
            self.drop_follows(users);
        }
        if cleanup.mute {
            self.mutes.retain(|m| !users.contains(&m.user_id));
        }
        if cleanup.allowed {
            self.allowed_senders.retain(|u| !users.contains(u));
        }
    }

    /// The remark name `user` gave this group ("" when none).
    pub fn remark(&self, user: &str) -> &str {
        self.remarks.get(user).map_or("", String::as_str)
    }

    /// The effective value of one permission (unset ones are 0, the default).
    pub fn permission(&self, key: &str) -> i64 {
        self.permissions
            .get(key)
            .and_then(Value::as_i64)
            .unwrap_or(0)
    }
}

/// A copy of one group's state, for tests' assertions.
#[derive(Clone, Debug)]
pub struct GroupSnapshot {
    pub group_id: String,
    pub name: String,
    pub owner: String,
    /// introduction, announcement, portraitUrl as set (the name is in `name`).
    pub group_profile: Map<String, Value>,
    /// Only the keys that were set by a call; unset ones default to 0.
    pub permissions: Map<String, Value>,
    pub ext_profile: Map<String, Value>,
    /// (userId, role) with `entrust::role` values, in join order.
    pub members: Vec<(String, i64)>,
    pub create_time: i64,
    /// Users muted in the group (expired mutes included), in mute order.
    pub muted: Vec<String>,
    /// The allowed-sender list, in the order added.
    pub allowed_senders: Vec<String>,
    pub frozen: bool,
}

impl From<&Group> for GroupSnapshot {
    fn from(g: &Group) -> Self {
        GroupSnapshot {
            group_id: g.id.clone(),
            name: g.name.clone(),
            owner: g.owner.clone(),
            group_profile: g.profile.clone(),
            permissions: g.permissions.clone(),
            ext_profile: g.ext.clone(),
            members: g
                .members
                .iter()
                .map(|m| (m.user_id.clone(), m.role))
                .collect(),
            create_time: g.create_time,
            muted: g.mutes.iter().map(|m| m.user_id.clone()).collect(),
            allowed_senders: g.allowed_senders.clone(),
            frozen: g.frozen.is_some(),
        }
    }
}

/// 25410 for a group that does not exist.
pub(crate) fn not_found(id: &str) -> ApiError {
    ApiError::new(code::GROUP_NOT_FOUND, format!("group {id} does not exist"))
}

fn not_in_group(users: &[&str]) -> ApiError {
    ApiError::new(
        code::NOT_IN_GROUP,
        format!("not in the group: {}", users.join(",")),
    )
}

fn owner_op(what: &str) -> ApiError {
    ApiError::new(code::OWNER_OPERATION, format!("the owner cannot {what}"))
}

pub(crate) struct Store {
    groups: HashMap<String, Group>,
    next_seq: u64,
    /// Users muted in every group (v4 mute list without `channelId`).
    global_mutes: Vec<Mute>,
    /// Members a group may hold ([`MEMBER_MAX`] unless configured).
    member_max: usize,
}

impl Default for Store {
    fn default() -> Self {
        Store::with_member_max(MEMBER_MAX)
    }
}

impl Store {
    /// An empty store whose groups hold at most `member_max` members.
    pub fn with_member_max(member_max: usize) -> Self {
        Store {
            groups: HashMap::new(),
            next_seq: 0,
            global_mutes: Vec::new(),
            member_max,
        }
    }

    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    pub fn get(&self, id: &str) -> Option<&Group> {
        self.groups.get(id)
    }

    fn get_mut(&mut self, id: &str) -> Result<&mut Group, ApiError> {
        self.groups.get_mut(id).ok_or_else(|| not_found(id))
    }

    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }

    /// group/create.json and group/import.json (which passes no users): the
    /// owner joins first as OWNER, then `users` as MEMBER (the owner, if
    /// listed again, is skipped).
    pub fn create(
        &mut self,
        id: &str,
        name: &str,
        owner: &str,
        users: &[String],
        p: ProfileParams,
        now_ms: i64,
    ) -> Result<(), ApiError> {
        if self.groups.contains_key(id) {
            return Err(ApiError::new(
                code::GROUP_EXISTS,
                format!("group {id} already exists"),
            ));
        }
        let ext = merge_ext(&Map::new(), &p.ext)?;
        let users: Vec<&String> = users.iter().filter(|u| *u != owner).collect();
        if users.len() + 1 > self.member_max {
            return Err(ApiError::new(code::MEMBER_LIMIT, "member limit reached"));
        }
        let seq = self.seq();
        let mut members = vec![Member {
            user_id: owner.to_owned(),
            role: role::OWNER,
            nickname: String::new(),
            extra: String::new(),
            time: now_ms,
            seq: self.seq(),
        }];
        for u in users {
            members.push(Member {
                user_id: u.clone(),
                role: role::MEMBER,
                nickname: String::new(),
                extra: String::new(),
                time: now_ms,
                seq: self.seq(),
            });
        }
        self.groups.insert(
            id.to_owned(),
            Group {
                id: id.to_owned(),
                name: name.to_owned(),
                owner: owner.to_owned(),
                creator: owner.to_owned(),
                profile: p.profile,
                permissions: p.permissions,
                ext,
                members,
                create_time: now_ms,
                seq,
                follows: HashMap::new(),
                remarks: HashMap::new(),
                mutes: Vec::new(),
                allowed_senders: Vec::new(),
                frozen: None,
            },
        );
        Ok(())
    }

    /// group/profile/update.json: profile and permission keys replace the
    /// stored ones; ext keys are set one by one (empty value removes).
    pub fn update(
        &mut self,
        id: &str,
        name: Option<&str>,
        mut p: ProfileParams,
    ) -> Result<(), ApiError> {
        let g = self.get_mut(id)?;
        let ext = merge_ext(&g.ext, &p.ext)?;
        let profile_name = p
            .profile
            .remove("name")
            .and_then(|v| v.as_str().map(str::to_owned));
        if let Some(n) = profile_name.as_deref().or(name) {
            g.name = n.to_owned();
        }
        g.profile.extend(p.profile);
        g.permissions.extend(p.permissions);
        g.ext = ext;
        Ok(())
    }

    pub fn dismiss(&mut self, id: &str) -> Result<(), ApiError> {
        self.groups
            .remove(id)
            .map(|_| ())
            .ok_or_else(|| not_found(id))
    }

    /// group/join.json: all or nothing. A user already in the group: 25412;
    /// joinPerm 3 ("no one can join"): 25414; over the size: 25411. Answers
    /// the group afterwards.
    pub fn join(&mut self, id: &str, users: &[String], now_ms: i64) -> Result<&Group, ApiError> {
        let mut seqs = Vec::with_capacity(users.len());
        let member_max = self.member_max;
        {
            let g = self.groups.get(id).ok_or_else(|| not_found(id))?;
            if g.permission("joinPerm") == 3 {
                return Err(ApiError::new(
                    code::NO_ONE_CAN_JOIN,
                    "the group's joinPerm is 3: no one can join",
                ));
            }
            let already: Vec<&str> = users
                .iter()
                .filter(|u| g.member(u).is_some())
                .map(String::as_str)
                .collect();
            if !already.is_empty() {
                return Err(ApiError::new(
                    code::ALREADY_IN_GROUP,
                    format!("already in the group: {}", already.join(",")),
                ));
            }
            if g.members.len() + users.len() > member_max {
                return Err(ApiError::new(code::MEMBER_LIMIT, "member limit reached"));
            }
        }
        for _ in users {
            seqs.push(self.seq());
        }
        let g = self.get_mut(id)?;
        for (u, seq) in users.iter().zip(seqs) {
            g.members.push(Member {
                user_id: u.clone(),
                role: role::MEMBER,
                nickname: String::new(),
                extra: String::new(),
                time: now_ms,
                seq,
            });
        }
        Ok(g)
    }

    /// group/quit.json and group/member/kick.json (v4 leave): all or
    /// nothing. The owner listed: 25417; a user not in the group: 25418.
    /// `cleanup` says what else of theirs goes.
    pub fn remove(&mut self, id: &str, users: &[String], cleanup: Cleanup) -> Result<(), ApiError> {
        let g = self.get_mut(id)?;
        if users.contains(&g.owner) {
            return Err(owner_op("quit or be kicked"));
        }
        g.require_members(users)?;
        g.members.retain(|m| !users.contains(&m.user_id));
        g.clean_up(users, cleanup);
        Ok(())
    }

    /// group/member/kick/all.json: removes the user from every group, except
    /// the ones they own (those are left unchanged).
    pub fn kick_all(&mut self, user: &str) {
        for g in self.groups.values_mut() {
            if g.owner != user {
                g.members.retain(|m| m.user_id != user);
            }
        }
    }

    /// group/transfer/owner.json: the new owner must be a member (25418); the
    /// old owner becomes a MEMBER, or leaves with `quit` (and `cleanup`
    /// applies to them). Transferring to the current owner changes nothing.
    pub fn transfer(
        &mut self,
        id: &str,
        new_owner: &str,
        quit: bool,
        cleanup: Cleanup,
    ) -> Result<(), ApiError> {
        let g = self.get_mut(id)?;
        if g.member(new_owner).is_none() {
            return Err(not_in_group(&[new_owner]));
        }
        if g.owner == new_owner {
            return Ok(());
        }
        let old = std::mem::replace(&mut g.owner, new_owner.to_owned());
        if let Some(m) = g.member_mut(new_owner) {
            m.role = role::OWNER;
        }
        if quit {
            g.members.retain(|m| m.user_id != old);
            g.clean_up(&[old], cleanup);
        } else if let Some(m) = g.member_mut(&old) {
            m.role = role::MEMBER;
        }
        Ok(())
    }

    /// group/manager/add.json: users not in the group are skipped and
    /// returned; the owner listed: 25417; over [`MANAGER_MAX`]: 25419.
    /// Answers (skipped users, manager count afterwards).
    pub fn manager_add(
        &mut self,
        id: &str,
        users: &[String],
    ) -> Result<(Vec<String>, usize), ApiError> {
        let g = self.get_mut(id)?;
        if users.contains(&g.owner) {
            return Err(owner_op("be made a manager"));
        }
        let (present, absent): (Vec<&String>, Vec<&String>) =
            users.iter().partition(|u| g.member(u).is_some());
        let new = present
            .iter()
            .filter(|u| g.member(u).is_some_and(|m| m.role != role::MANAGER))
            .count();
        if g.managers() + new > MANAGER_MAX {
            return Err(ApiError::new(
                code::MANAGER_LIMIT,
                format!("a group may have at most {MANAGER_MAX} managers"),
            ));
        }
        for u in &present {
            if let Some(m) = g.member_mut(u) {
                m.role = role::MANAGER;
            }
        }
        Ok((absent.into_iter().cloned().collect(), g.managers()))
    }

    /// group/manager/remove.json: all or nothing. A user not in the group:
    /// 25418; a member who is not a manager (the owner included): 25420.
    pub fn manager_remove(&mut self, id: &str, users: &[String]) -> Result<(), ApiError> {
        let g = self.get_mut(id)?;
        g.require_members(users)?;
        let not_managers: Vec<&str> = users
            .iter()
            .filter(|u| g.member(u).is_some_and(|m| m.role != role::MANAGER))
            .map(String::as_str)
            .collect();
        if !not_managers.is_empty() {
            return Err(ApiError::new(
                code::NOT_A_MANAGER,
                format!("not managers: {}", not_managers.join(",")),
            ));
        }
        for u in users {
            if let Some(m) = g.member_mut(u) {
                m.role = role::MEMBER;
            }
        }
        Ok(())
    }
}

mod moderation;
mod social;

#[cfg(test)]
mod tests;
