//! `…placement.json`: `hashOrder`, `sipHashMod` and `crcHashMod`.

use std::path::Path;

use engine::drives::placement::{crc_hash_mod, hash_order, sip_hash_mod, DistributionAlgo};

use super::common::{load, s, u};

pub fn check(path: &Path) {
    let doc = load(path);
    let orders = doc["hash_order"].as_array().expect("hash_order");
    assert!(!orders.is_empty());
    for case in orders {
        let want: Vec<usize> = case["hash_order"]
            .as_array()
            .expect("order")
            .iter()
            .map(|v| v.as_u64().expect("int") as usize)
            .collect();
        assert_eq!(
            hash_order(s(case, "key"), u(case, "cardinality") as usize),
            Some(want),
            "{case}"
        );
    }
    let sets = doc["set_index"].as_array().expect("set_index");
    assert!(!sets.is_empty());
    for case in sets {
        let key = s(case, "key");
        let n = u(case, "set_count") as usize;
        let id = uuid::Uuid::parse_str(s(case, "deployment_id")).unwrap();
        let sip = u(case, "sip_hash_mod") as usize;
        let crc = u(case, "crc_hash_mod") as usize;
        assert_eq!(sip_hash_mod(key, n, &id), Some(sip), "{case}");
        assert_eq!(crc_hash_mod(key, n), Some(crc), "{case}");
        assert_eq!(DistributionAlgo::SipMod.set_index(key, n, &id), Some(sip));
        assert_eq!(DistributionAlgo::CrcMod.set_index(key, n, &id), Some(crc));
    }
}
