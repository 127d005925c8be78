//! What the `kura scan` end-to-end tests share: running the binary and a small web root.
#![allow(dead_code)]

use std::fs;
use std::path::Path;
use std::process::Command;

/// Runs `kura scan ARGS` and returns (exit code, stdout, stderr).
pub fn kura_scan(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kura"))
        .arg("scan")
        .args(args)
        .output()
        .expect("kura runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A temporary path as a command-line argument.
pub fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// A web root with a customer list and a log with one address.
pub fn web_root(root: &Path) {
    fs::create_dir_all(root.join("static")).expect("mkdir");
    let mut list = String::from("name,email,phone\n");
    for i in 0..50 {
        list.push_str(&format!(
            "Customer {i},user{i}@gmail.com,090-1234-{:04}\n",
            1000 + i
        ));
    }
    fs::write(root.join("customers.csv"), list).expect("write");
    fs::write(
        root.join("static/access.log"),
        "GET / 200 from 93.184.216.34 mail sato.taro@yahoo.co.jp\n",
    )
    .expect("write");
}
