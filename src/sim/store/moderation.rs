//! The v4 moderation lists over the store: mutes, frozen groups, allowed
//! senders.

use super::*;

/// Moderation (v4 mute, freeze and allowed-sender lists).
impl Store {
    /// The mute list of `channel`, or the global one; a named group must
    /// exist (25410).
    fn mutes_mut(&mut self, channel: Option<&str>) -> Result<&mut Vec<Mute>, ApiError> {
        match channel {
            Some(id) => Ok(&mut self.get_mut(id)?.mutes),
            None => Ok(&mut self.global_mutes),
        }
    }

    /// Mutes `users` in `channel` (or everywhere) from `now_ms` for `minutes`
    /// (0: permanently); muting a muted user starts the mute again. At most
    /// `global_max` users in the global list afterwards (else 1005).
    pub fn mute_add(
        &mut self,
        channel: Option<&str>,
        users: &[String],
        minutes: i64,
        now_ms: i64,
        global_max: usize,
    ) -> Result<(), ApiError> {
        let global = channel.is_none();
        let list = self.mutes_mut(channel)?;
        list.retain(|m| m.active(now_ms) && !users.contains(&m.user_id));
        if global && list.len() + users.len() > global_max {
            return Err(ApiError::too_long(format!(
                "at most {global_max} users may be muted in every group"
            )));
        }
        let until = (minutes > 0).then(|| now_ms + minutes * 60_000);
        list.extend(users.iter().map(|u| Mute {
            user_id: u.clone(),
            since: now_ms,
            until,
        }));
        Ok(())
    }

    /// Lifts the mutes of `users`; users not muted are ignored.
    pub fn mute_remove(&mut self, channel: Option<&str>, users: &[String]) -> Result<(), ApiError> {
        self.mutes_mut(channel)?
            .retain(|m| !users.contains(&m.user_id));
        Ok(())
    }

    /// The mutes in force at `now_ms`, in mute order.
    pub fn mutes(&self, channel: Option<&str>, now_ms: i64) -> Result<Vec<Mute>, ApiError> {
        let list = match channel {
            Some(id) => &self.get(id).ok_or_else(|| not_found(id))?.mutes,
            None => &self.global_mutes,
        };
        Ok(list.iter().filter(|m| m.active(now_ms)).cloned().collect())
    }

    /// Freezes (or thaws) every group in `ids`: all or nothing, an unknown
    /// one 25410. Freezing a frozen group keeps its place in the list.
    pub fn freeze(&mut self, ids: &[String], frozen: bool) -> Result<(), ApiError> {
        if let Some(missing) = ids.iter().find(|id| !self.groups.contains_key(*id)) {
            return Err(not_found(missing));
        }
        for id in ids {
            let seq = self.seq();
            let g = self.get_mut(id)?;
            g.frozen = match (frozen, g.frozen) {
                (false, _) => None,
                (true, Some(s)) => Some(s),
                (true, None) => Some(seq),
            };
        }
        Ok(())
    }

    /// Frozen groups, in freeze order.
    pub fn frozen(&self) -> Vec<&Group> {
        let mut v: Vec<&Group> = self
            .groups
            .values()
            .filter(|g| g.frozen.is_some())
            .collect();
        v.sort_by_key(|g| g.frozen);
        v
    }

    /// Adds `users` to the group's allowed-sender list (those already there
    /// keep their place).
    pub fn allowed_add(&mut self, id: &str, users: &[String]) -> Result<(), ApiError> {
        let list = &mut self.get_mut(id)?.allowed_senders;
        for u in users {
            if !list.contains(u) {
                list.push(u.clone());
            }
        }
        Ok(())
    }

    /// Takes `users` off the list; users not on it are ignored.
    pub fn allowed_remove(&mut self, id: &str, users: &[String]) -> Result<(), ApiError> {
        self.get_mut(id)?
            .allowed_senders
            .retain(|u| !users.contains(u));
        Ok(())
    }
}
