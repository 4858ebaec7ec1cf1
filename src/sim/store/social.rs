//! Member details, follows and remark names over the store.

use super::*;

impl Store {
    /// group/member/set.json: the nickname (required there, optional on v4)
    /// and `extra` are replaced when sent.
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

    /// group/member/follow.json: `user` and everyone in `targets` must be
    /// members (25418); more than [`FOLLOW_MAX`] afterwards: 25419. Users
    /// already followed keep their first follow time.
    pub fn follow(
        &mut self,
        id: &str,
        user: &str,
        targets: &[String],
        now_ms: i64,
    ) -> Result<(), ApiError> {
        let g = self.get_mut(id)?;
        g.require_members(&[user.to_owned()])?;
        g.require_members(targets)?;
        let list = g.follows.entry(user.to_owned()).or_default();
        let new: Vec<&String> = targets
            .iter()
            .filter(|t| !list.iter().any(|(u, _)| u == *t))
            .collect();
        if list.len() + new.len() > FOLLOW_MAX {
            return Err(ApiError::new(
                code::MANAGER_LIMIT,
                format!("a member may follow at most {FOLLOW_MAX} users in a group"),
            ));
        }
        list.extend(new.into_iter().map(|t| (t.clone(), now_ms)));
        Ok(())
    }

    /// group/member/unfollow.json: `user` must be a member (25418); users
    /// not followed are ignored.
    pub fn unfollow(&mut self, id: &str, user: &str, targets: &[String]) -> Result<(), ApiError> {
        let g = self.get_mut(id)?;
        g.require_members(&[user.to_owned()])?;
        if let Some(list) = g.follows.get_mut(user) {
            list.retain(|(u, _)| !targets.contains(u));
        }
        Ok(())
    }

    /// group/member/followed/get.json: whom `user` follows, in follow order.
    pub fn followed(&self, id: &str, user: &str) -> Result<Vec<(String, i64)>, ApiError> {
        let g = self.get(id).ok_or_else(|| not_found(id))?;
        g.require_members(&[user.to_owned()])?;
        Ok(g.follows.get(user).cloned().unwrap_or_default())
    }

    /// group/remarkname/set.json: `user` must be a member (25418).
    pub fn remark_set(&mut self, id: &str, user: &str, remark: &str) -> Result<(), ApiError> {
        let g = self.get_mut(id)?;
        g.require_members(&[user.to_owned()])?;
        g.remarks.insert(user.to_owned(), remark.to_owned());
        Ok(())
    }

    /// group/remarkname/delete.json: the group must exist; no remark is fine.
    pub fn remark_delete(&mut self, id: &str, user: &str) -> Result<(), ApiError> {
        self.get_mut(id)?.remarks.remove(user);
        Ok(())
    }
}
