//! Group state and the membership rules.
//!
//! Every operation checks everything first and only then changes state, so
//! a refused call leaves the group exactly as it was (all or nothing).

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::reply::ApiError;
use super::validate::{ProfileParams, merge_ext};
use crate::entrust::{code, role};

/// Members a group may hold (owner included). The docs give no number; 3000
/// is the vendor's usual default group size.
pub const MEMBER_MAX: usize = 3000;
/// Managers a group may hold. Not documented for entrust; 10 is assumed.
pub const MANAGER_MAX: usize = 10;

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

#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub id: String,
    pub name: String,
    pub owner: String,
    pub profile: Map<String, Value>,
    pub permissions: Map<String, Value>,
    pub ext: Map<String, Value>,
    /// In join order (ascending `seq`).
    pub members: Vec<Member>,
    pub create_time: i64,
    pub seq: u64,
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
        }
    }
}

fn not_found(id: &str) -> ApiError {
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

#[derive(Default)]
pub(crate) struct Store {
    groups: HashMap<String, Group>,
    next_seq: u64,
}

impl Store {
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
        if users.len() + 1 > MEMBER_MAX {
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
                profile: p.profile,
                permissions: p.permissions,
                ext,
                members,
                create_time: now_ms,
                seq,
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
    /// joinPerm 3 ("no one can join"): 25414; over the size: 25411.
    pub fn join(&mut self, id: &str, users: &[String], now_ms: i64) -> Result<(), ApiError> {
        let mut seqs = Vec::with_capacity(users.len());
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
            if g.members.len() + users.len() > MEMBER_MAX {
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
        Ok(())
    }

    /// group/quit.json and group/member/kick.json: all or nothing. The owner
    /// listed: 25417; a user not in the group: 25418.
    pub fn remove(&mut self, id: &str, users: &[String]) -> Result<(), ApiError> {
        let g = self.get_mut(id)?;
        if users.contains(&g.owner) {
            return Err(owner_op("quit or be kicked"));
        }
        g.require_members(users)?;
        g.members.retain(|m| !users.contains(&m.user_id));
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
    /// old owner becomes a MEMBER, or leaves with `quit`. Transferring to the
    /// current owner changes nothing.
    pub fn transfer(&mut self, id: &str, new_owner: &str, quit: bool) -> Result<(), ApiError> {
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

    /// group/member/set.json: only the fields sent change.
    pub fn member_set(
        &mut self,
        id: &str,
        user: &str,
        nickname: Option<&str>,
        extra: Option<&str>,
    ) -> Result<(), ApiError> {
        let g = self.get_mut(id)?;
        let Some(m) = g.member_mut(user) else {
            return Err(not_in_group(&[user]));
        };
        if let Some(n) = nickname {
            m.nickname = n.to_owned();
        }
        if let Some(e) = extra {
            m.extra = e.to_owned();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    fn store_with(id: &str, owner: &str, members: &[&str]) -> Store {
        let mut s = Store::default();
        s.create(id, "n", owner, &users(members), ProfileParams::default(), 1)
            .unwrap();
        s
    }

    fn roles(s: &Store, id: &str) -> Vec<(String, i64)> {
        GroupSnapshot::from(s.get(id).unwrap()).members
    }

    #[test]
    fn create_and_exists() {
        let mut s = store_with("g", "o", &["a", "o", "b"]);
        assert_eq!(
            roles(&s, "g"),
            [("o".into(), 3), ("a".into(), 1), ("b".into(), 1)]
        );
        let e = s
            .create("g", "n", "o", &[], ProfileParams::default(), 2)
            .unwrap_err();
        assert_eq!(e.code, 25409);
    }

    #[test]
    fn join_rules() {
        let mut s = store_with("g", "o", &["a"]);
        assert_eq!(s.join("g", &users(&["b", "a"]), 2).unwrap_err().code, 25412);
        assert_eq!(roles(&s, "g").len(), 2, "all or nothing");
        s.join("g", &users(&["b"]), 2).unwrap();
        assert_eq!(s.join("x", &users(&["b"]), 2).unwrap_err().code, 25410);
        let many: Vec<String> = (0..MEMBER_MAX).map(|i| format!("u{i}")).collect();
        assert_eq!(s.join("g", &many, 3).unwrap_err().code, 25411);
    }

    #[test]
    fn remove_and_transfer() {
        let mut s = store_with("g", "o", &["a", "b"]);
        assert_eq!(s.remove("g", &users(&["o"])).unwrap_err().code, 25417);
        assert_eq!(s.remove("g", &users(&["a", "z"])).unwrap_err().code, 25418);
        s.remove("g", &users(&["a"])).unwrap();
        assert_eq!(s.transfer("g", "z", false).unwrap_err().code, 25418);
        s.transfer("g", "b", false).unwrap();
        assert_eq!(roles(&s, "g"), [("o".into(), 1), ("b".into(), 3)]);
        s.transfer("g", "o", true).unwrap();
        assert_eq!(roles(&s, "g"), [("o".into(), 3)]);
        assert_eq!(s.get("g").unwrap().owner, "o");
    }

    #[test]
    fn managers() {
        let mut s = store_with("g", "o", &["a", "b"]);
        assert_eq!(s.manager_add("g", &users(&["o"])).unwrap_err().code, 25417);
        let (absent, n) = s.manager_add("g", &users(&["a", "z"])).unwrap();
        assert_eq!((absent, n), (vec!["z".to_owned()], 1));
        assert_eq!(
            s.manager_remove("g", &users(&["a", "b"])).unwrap_err().code,
            25420
        );
        s.manager_remove("g", &users(&["a"])).unwrap();
        assert_eq!(roles(&s, "g")[1], ("a".into(), 1));
        let many: Vec<String> = (0..MANAGER_MAX + 1).map(|i| format!("m{i}")).collect();
        s.join("g", &many, 2).unwrap();
        assert_eq!(s.manager_add("g", &many).unwrap_err().code, 25419);
    }
}
