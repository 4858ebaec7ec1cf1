"""Drives every documented v4 group-channel path with the vendor's v4 SDK
(PyPI ncsdk, generated from its OpenAPI file).

Usage: ncsdk_v4.py BASE_URL APP_KEY APP_SECRET PREFIX

BASE_URL is the vendor's simulator (`entrust-gateway sim`) or a gateway in
front of one: the SDK is given it as both its primary and its backup
domain (it insists on two). Every step goes through the SDK's own
GroupChannelManagementApi / GroupChannelModerationApi method, with the
SDK's request model, signing (millisecond timestamp, up to 18-digit nonce)
and response model, so an answer its pydantic models refuse fails the step.
The two paths the vendor's docs spell differently from the SDK (reference
nexconn-v4-group-api.md §9.1 `quit`, §9.5 `user/mute-list-get`) have no
SDK method: they go through the SDK's own serializer for the SDK spelling
(signed by the SDK), sent to the doc spelling, and read with the SDK's
response model; `quit` with the doc page's `isDel*` field names.

Ids are made from PREFIX (letters and digits only, §6 "channelId"), so runs
with different prefixes can share one server. Exits non-zero on the first
step that fails, does not answer code 0, or does not match its expectation
(a partial match: objects the keys listed, arrays the same length item by
item; or a check of its own where other runs' groups may show).
"""

import json
import re
import sys

import ncsdk
from ncsdk import models as m

from expect import matches


def doc_spelling(client, serialized, sdk_path, doc_path, response_type, edit_body=None):
    """Sends a request the SDK serialized and signed for `sdk_path` to
    `doc_path` instead, and reads the answer with the SDK's model."""
    method, url, headers, body, post_params = serialized
    if not url.endswith(sdk_path):
        raise AssertionError("the SDK no longer sends %s (url %s)" % (sdk_path, url))
    url = url[: -len(sdk_path)] + doc_path
    if edit_body is not None:
        body = edit_body(dict(body))
    answer = client.call_api(method, url, header_params=headers, body=body, post_params=post_params)
    answer.read()
    return client.response_deserialize(response_data=answer, response_types_map={"200": response_type}).data


def main():
    base, key, secret, prefix = sys.argv[1:5]
    p = re.sub(r"[^A-Za-z0-9]", "", prefix) or "p"
    g1, g2 = p + "g1", p + "g2"
    o, a, b, c, d, e = (p + u for u in ("o", "a", "b", "c", "d", "e"))

    config = ncsdk.Configuration()
    config.set_nexconn_credentials(key, secret)
    config.set_primary_backup_domains(base, base)
    client = ncsdk.ApiClient(config)
    mgmt = ncsdk.GroupChannelManagementApi(client)
    mod = ncsdk.GroupChannelModerationApi(client)
    state = {}

    def member_page(token):
        req = {"channelId": g1, "memberRole": 0, "pageSize": 2, "order": 0}
        if token:
            req["pageToken"] = token
        return mgmt.list_group_channel_members(m.GroupChannelMemberListRequest.from_dict(req))

    def first_member_page():
        r = member_page(None)
        state["token"] = r.result.page_token if r.result else None
        return r

    def list_until_found():
        """`list` pages through every group (other runs' too): the page with g1."""
        token = None
        while True:
            req = {"pageSize": 1000, "order": 0}
            if token:
                req["pageToken"] = token
            r = mgmt.list_group_channels(m.GroupChannelListRequest.from_dict(req))
            groups = (r.result.groups or []) if r.result else []
            token = r.result.page_token if r.result else None
            if r.code != 0 or not token or any(g.channel_id == g1 for g in groups):
                return r

    def listed(got):
        return any(matches({"channelId": g1, "creator": o, "owner": a, "name": "Renamed"}, g)
                   for g in got.get("result", {}).get("groups", []))

    def quit_doc_spelling():
        req = m.GroupChannelQuitRequest.from_dict({"channelId": g1, "userIds": [c]})
        serialized = mgmt._quit_group_channel_serialize(req, None, None, None, 0)
        doc_names = {"isDelBan": 1, "isDelWhite": 1, "isDelFollowed": 1}
        return doc_spelling(client, serialized, "/v4/group-channel/leave", "/v4/group-channel/quit",
                            "CodeOnlyResponse", lambda body: {**body, **doc_names})

    def mute_get_doc_spelling():
        req = m.GroupChannelUserMuteListGetRequest.from_dict({"channelId": g1})
        serialized = mod._get_group_channel_user_mute_list_serialize(req, None, None, None, 0)
        return doc_spelling(client, serialized, "/v4/group-channel/user/mute-list/get",
                            "/v4/group-channel/user/mute-list-get", "GroupChannelUserMuteListGetResponse")

    steps = [
        ("create_group_channel", lambda: mgmt.create_group_channel(m.GroupChannelCreateRequest.from_dict({
            "channelId": g1, "name": "SDK group", "owner": o, "userIds": [a, b],
            "groupProfile": {"introduction": "hello & welcome", "portraitUrl": "https://example.com/p.png"},
            "permissions": {"joinPerm": 0, "memProfilePerm": 1},
            "groupExtProfile": {"ext_level": "1"}})), {}),
        ("create_group_channel", lambda: mgmt.create_group_channel(m.GroupChannelCreateRequest.from_dict({
            "channelId": g2, "name": "Second", "owner": o})), {}),
        ("batch_get_group_channel_profiles", lambda: mgmt.batch_get_group_channel_profiles(
            m.GroupChannelProfileListRequest.from_dict({"channelIds": [g1, g2]})),
            {"result": {"profiles": [
                {"channelId": g1, "name": "SDK group", "owner": o, "memberCount": 3,
                 "groupProfile": {"introduction": "hello & welcome"}, "groupExtProfile": {"ext_level": "1"},
                 "permissions": {"joinPerm": 0, "memProfilePerm": 1, "removePerm": 0}},
                {"channelId": g2, "memberCount": 1}]}}),
        ("update_group_channel_profile", lambda: mgmt.update_group_channel_profile(
            m.GroupChannelProfileUpdateRequest.from_dict({
                "channelId": g1, "groupProfile": {"name": "Renamed", "announcement": "50% off + more"},
                "groupExtProfile": {"ext_level": "2"}})), {}),
        ("join_group_channel", lambda: mgmt.join_group_channel(m.GroupChannelJoinRequest.from_dict({
            "channelId": g1, "userIds": [c, d, e]})),
            {"result": {"channelId": g1, "name": "Renamed", "owner": o, "memberCount": 6,
                        "groupProfile": {"announcement": "50% off + more"}}}),
        ("list_group_channel_members", first_member_page,
            {"result": {"totalCount": 6, "members": [{"userId": o, "role": 3}, {"userId": a, "role": 1}]}}),
        ("list_group_channel_members (page 2)", lambda: member_page(state.get("token")),
            {"result": {"totalCount": 6, "members": [{"userId": b}, {"userId": c}]}}),
        ("batch_get_group_channel_members", lambda: mgmt.batch_get_group_channel_members(
            m.GroupChannelMemberBatchGetRequest.from_dict({"channelId": g1, "userIds": [c, a]})),
            {"result": {"members": [{"userId": c}, {"userId": a}]}}),
        ("set_group_channel_member", lambda: mgmt.set_group_channel_member(m.GroupChannelMemberSetRequest.from_dict({
            "channelId": g1, "userId": a, "nickname": "Ann", "extra": "{\"k\":\"v\"}"})), {}),
        ("add_group_channel_admins", lambda: mgmt.add_group_channel_admins(m.GroupChannelAdminUsersRequest.from_dict({
            "channelId": g1, "userIds": [a, b]})), {}),
        ("remove_group_channel_admins", lambda: mgmt.remove_group_channel_admins(
            m.GroupChannelAdminUsersRequest.from_dict({"channelId": g1, "userIds": [b]})), {}),
        ("batch_get_group_channel_members", lambda: mgmt.batch_get_group_channel_members(
            m.GroupChannelMemberBatchGetRequest.from_dict({"channelId": g1, "userIds": [a, b]})),
            {"result": {"members": [{"userId": a, "role": 2, "nickname": "Ann", "extra": "{\"k\":\"v\"}"},
                                    {"userId": b, "role": 1}]}}),
        ("transfer_group_channel_owner", lambda: mgmt.transfer_group_channel_owner(
            m.GroupChannelTransferOwnerRequest.from_dict({
                "channelId": g1, "newOwner": a, "shouldLeave": 0, "shouldDeleteMute": 0,
                "shouldDeleteAllowedSendersList": 0, "shouldDeleteFavorites": 0})), {}),
        ("quit_group_channel", lambda: mgmt.quit_group_channel(m.GroupChannelQuitRequest.from_dict({
            "channelId": g1, "userIds": [b], "shouldDeleteMute": 1, "shouldDeleteAllowedSendersList": 1,
            "shouldDeleteFavorites": 1})), {}),
        ("quit (doc spelling /v4/group-channel/quit)", quit_doc_spelling, {}),
        ("list_user_joined_group_channels", lambda: mgmt.list_user_joined_group_channels(
            m.GroupChannelJoinedListRequest.from_dict({"userId": a, "role": 0, "pageSize": 10})),
            {"result": {"groups": [{"channelId": g1, "name": "Renamed", "role": 3, "memberCount": 4,
                                    "owner": a, "groupExtProfile": {"ext_level": "2"}}]}}),
        ("list_group_channels", list_until_found, listed),
        ("set_group_channel_alias", lambda: mgmt.set_group_channel_alias(m.GroupChannelAliasSetRequest.from_dict({
            "channelId": g1, "userId": d, "alias": "My group"})), {}),
        ("get_group_channel_alias", lambda: mgmt.get_group_channel_alias(m.GroupChannelAliasGetRequest.from_dict({
            "channelId": g1, "userId": d})), {"result": {"alias": "My group"}}),
        ("delete_group_channel_alias", lambda: mgmt.delete_group_channel_alias(
            m.GroupChannelAliasGetRequest.from_dict({"channelId": g1, "userId": d})), {}),
        ("add_group_channel_member_favorites", lambda: mgmt.add_group_channel_member_favorites(
            m.GroupChannelMemberFavoritesUpdateRequest.from_dict({
                "channelId": g1, "userId": d, "favoriteIds": [e, a]})), {}),
        ("list_group_channel_member_favorites", lambda: mgmt.list_group_channel_member_favorites(
            m.GroupChannelMemberFavoritesListRequest.from_dict({"channelId": g1, "userId": d})),
            {"result": {"userId": d, "channelId": g1, "favorites": [{"userId": e}, {"userId": a}]}}),
        ("remove_group_channel_member_favorites", lambda: mgmt.remove_group_channel_member_favorites(
            m.GroupChannelMemberFavoritesUpdateRequest.from_dict({
                "channelId": g1, "userId": d, "favoriteIds": [e]})), {}),
        ("add_group_channel_user_mute_list", lambda: mod.add_group_channel_user_mute_list(
            m.GroupChannelUserMuteListAddRequest.from_dict({"channelId": g1, "userIds": [d], "durationMinutes": 60})),
            {}),
        ("get_group_channel_user_mute_list", lambda: mod.get_group_channel_user_mute_list(
            m.GroupChannelUserMuteListGetRequest.from_dict({"channelId": g1})),
            {"result": {"mutedMembers": [{"userId": d}]}}),
        ("user mute list get (doc spelling /v4/group-channel/user/mute-list-get)", mute_get_doc_spelling,
            {"result": {"mutedMembers": [{"userId": d}]}}),
        ("remove_group_channel_user_mute_list", lambda: mod.remove_group_channel_user_mute_list(
            m.GroupChannelUserMuteListRemoveRequest.from_dict({"channelId": g1, "userIds": [d]})), {}),
        ("get_group_channel_user_mute_list", lambda: mod.get_group_channel_user_mute_list(
            m.GroupChannelUserMuteListGetRequest.from_dict({"channelId": g1})),
            {"result": {"mutedMembers": []}}),
        ("add_group_channel_freeze_list", lambda: mod.add_group_channel_freeze_list(
            m.GroupChannelFreezeListUpdateRequest.from_dict({"channelIds": [g1]})), {}),
        ("get_group_channel_freeze_list", lambda: mod.get_group_channel_freeze_list(
            m.GroupChannelFreezeListGetRequest.from_dict({"channelIds": [g1, g2], "page": 1, "pageSize": 10})),
            {"result": {"freezeStatuses": [{"channelId": g1, "status": 1}, {"channelId": g2, "status": 0}]}}),
        ("remove_group_channel_freeze_list", lambda: mod.remove_group_channel_freeze_list(
            m.GroupChannelFreezeListUpdateRequest.from_dict({"channelIds": [g1]})), {}),
        ("add_group_channel_allowed_sender_list", lambda: mod.add_group_channel_allowed_sender_list(
            m.GroupChannelAllowedSenderListUpdateRequest.from_dict({"channelId": g1, "userIds": [d, e]})), {}),
        ("get_group_channel_allowed_sender_list", lambda: mod.get_group_channel_allowed_sender_list(
            m.GroupChannelAllowedSenderListGetRequest.from_dict({"channelId": g1})),
            {"result": {"userIds": [d, e]}}),
        ("remove_group_channel_allowed_sender_list", lambda: mod.remove_group_channel_allowed_sender_list(
            m.GroupChannelAllowedSenderListUpdateRequest.from_dict({"channelId": g1, "userIds": [e]})), {}),
        ("kick_user_from_all_group_channels", lambda: mgmt.kick_user_from_all_group_channels(
            m.GroupChannelKickUserFromAllRequest.from_dict({"userId": e})), {}),
        ("batch_get_group_channel_members", lambda: mgmt.batch_get_group_channel_members(
            m.GroupChannelMemberBatchGetRequest.from_dict({"channelId": g1, "userIds": [e]})),
            {"result": {"members": []}}),
        ("dismiss_group_channel", lambda: mgmt.dismiss_group_channel(
            m.GroupChannelDismissRequest.from_dict({"channelId": g2})), {}),
        ("dismiss_group_channel", lambda: mgmt.dismiss_group_channel(
            m.GroupChannelDismissRequest.from_dict({"channelId": g1})), {}),
        ("batch_get_group_channel_profiles", lambda: mgmt.batch_get_group_channel_profiles(
            m.GroupChannelProfileListRequest.from_dict({"channelIds": [g1, g2]})),
            {"result": {"profiles": []}}),
    ]

    for i, (name, call, expect) in enumerate(steps, 1):
        try:
            answer = call()
        except ncsdk.ApiException as ex:
            print("ncsdk step %d %s: FAILED: HTTP %s %s" % (i, name, ex.status, ex.body))
            return 1
        except Exception as ex:  # the SDK's models refusing the answer, among others
            print("ncsdk step %d %s: FAILED: %s: %s" % (i, name, type(ex).__name__, ex))
            return 1
        got = answer.to_dict()
        ok = answer.code == 0 and (expect(got) if callable(expect) else matches(expect, got))
        print("ncsdk step %d %s: %s %s" % (i, name, "ok" if ok else "FAILED", json.dumps(got)))
        if not ok:
            print("  expected code 0 and %s" % (expect.__doc__ or getattr(expect, "__name__", "")
                                                 if callable(expect) else json.dumps(expect)))
            return 1
    # The error envelope (§3) as the SDK reads it: a non-2xx status raises,
    # with `code` and `errorMessage` parsed from the body.
    try:
        mgmt.dismiss_group_channel(m.GroupChannelDismissRequest.from_dict({"channelId": g1}))
        print("ncsdk error check: dismissing a dismissed group answered code 0")
        return 1
    except ncsdk.ApiException as ex:
        ok = ex.status == 400 and ex.error_code == 25410 and bool(ex.error_message)
        print("ncsdk error check: %s HTTP %s code %s %r" % ("ok" if ok else "FAILED", ex.status,
                                                           ex.error_code, ex.error_message))
        if not ok:
            print("  expected HTTP 400, code 25410 (group does not exist) and an errorMessage")
            return 1
    print("ncsdk: all %d steps answered code 0" % len(steps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
