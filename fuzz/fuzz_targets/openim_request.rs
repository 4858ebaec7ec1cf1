//! Any bytes as an OpenIM request body: the strict reader in
//! `openim::json` must never panic, and every refusal is an ArgsError that
//! names the field.
#![no_main]

use entrust_gateway::error::Error;
use entrust_gateway::openim::json::{Obj, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let Ok(req) = parse(body) else {
        return;
    };
    let o = Obj::new(&req, "p.");
    for key in req.keys().map(String::as_str).chain(["absent"]) {
        let name = format!("p.{key}");
        let errors = [
            o.opt_str(key).err(),
            o.required(key).err(),
            o.opt_int(key, 0, 2).err(),
            o.opt_bool(key).err(),
            o.strings(key).err(),
            o.opt_obj(key).err(),
            o.objects(key).err(),
        ];
        for e in errors.into_iter().flatten() {
            match e {
                Error::Args(d) => assert!(d.contains(&name), "{d} does not name {name}"),
                other => panic!("not an ArgsError: {other:?}"),
            }
        }
    }
});
