//! Builds the browser app in `web/` and lists its files for `src/web.rs` to
//! embed, so `cargo build` alone yields a binary that serves the app.
//!
//! - With npm: `npm ci` (when `web/node_modules` is missing or older than the
//!   lock file), then `vite build` into `OUT_DIR`. Cargo reruns this only when
//!   the app's sources change.
//! - `STARLING_WEB_DIST=<dir>` embeds an already built app instead.
//! - Without npm: the app in `web/dist` if someone built it, else a one-page
//!   placeholder and a warning, so Rust-only work needs no Node.js. With
//!   `CI=true` a missing or failing web build is an error instead.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;
use std::{env, fs};

const PLACEHOLDER: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Starling</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem">
<h1>Starling is running</h1>
<p>This binary was built without the browser app, because npm was not found when it was compiled.
Install Node.js 20.19 or newer with npm, then build again (<code>cargo build</code> builds the app).</p>
<p>The API works: see <a href="/api/docs">/api/docs</a>.</p>
</body></html>
"#;

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    let web = manifest.join("../../web");
    for input in [
        "src",
        "public",
        "index.html",
        "package.json",
        "package-lock.json",
        "vite.config.ts",
        "tsconfig.json",
        "dist/index.html",
    ] {
        // Cargo reruns a build script on every build while a path it watches
        // is missing, so watch only what exists.
        let path = web.join(input);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    println!("cargo:rerun-if-env-changed=STARLING_WEB_DIST");
    println!("cargo:rerun-if-env-changed=CI");
    let ci = env::var("CI").is_ok_and(|v| v == "true" || v == "1");

    let (dir, placeholder) = match locate(&web, &out, ci) {
        Ok(dir) => (dir, false),
        Err(why) if ci => {
            fail(&format!(
                "the browser app could not be built (CI=true): {why}"
            ));
        }
        Err(why) => {
            println!("cargo:warning=serving a placeholder page instead of the browser app: {why}");
            // Build the app as soon as npm appears: rerun when PATH or the
            // directories on it change (installing npm adds a file there).
            println!("cargo:rerun-if-env-changed=PATH");
            for dir in env::split_paths(&env::var_os("PATH").unwrap_or_default()) {
                if dir.is_absolute() && dir.is_dir() {
                    println!("cargo:rerun-if-changed={}", dir.display());
                }
            }
            let dir = out.join("web-placeholder");
            if let Err(e) = fs::create_dir_all(&dir)
                .and_then(|()| fs::write(dir.join("index.html"), PLACEHOLDER))
            {
                fail(&format!("cannot write the placeholder page: {e}"));
            }
            (dir, true)
        }
    };
    if let Err(e) = generate(&dir, placeholder, &out.join("web_assets.rs")) {
        fail(&format!(
            "cannot embed the browser app from {}: {e}",
            dir.display()
        ));
    }
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}

/// The directory of built files to embed.
fn locate(web: &Path, out: &Path, ci: bool) -> Result<PathBuf, String> {
    if let Some(dist) = env::var_os("STARLING_WEB_DIST") {
        let dist = PathBuf::from(dist);
        return if dist.join("index.html").is_file() {
            Ok(dist)
        } else {
            Err(format!(
                "STARLING_WEB_DIST={} has no index.html",
                dist.display()
            ))
        };
    }
    if !has_npm() {
        let dist = web.join("dist");
        if dist.join("index.html").is_file() && !ci {
            println!(
                "cargo:warning=npm not found: embedding the browser app already built in {}",
                dist.display()
            );
            return Ok(dist);
        }
        return Err("npm was not found (install Node.js 20.19+ with npm)".into());
    }
    let lock = web.join("package-lock.json");
    let installed = web.join("node_modules/.package-lock.json");
    if !installed.is_file() || modified(&lock) > modified(&installed) {
        npm(web, &["ci", "--no-audit", "--no-fund"])?;
    }
    let dist = out.join("web-dist");
    let dist_arg = dist.to_string_lossy().into_owned();
    npm(
        web,
        &["run", "build", "--", "--outDir", &dist_arg, "--emptyOutDir"],
    )?;
    if dist.join("index.html").is_file() {
        Ok(dist)
    } else {
        Err("vite build produced no index.html".into())
    }
}

fn has_npm() -> bool {
    Command::new("npm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn modified(p: &Path) -> SystemTime {
    fs::metadata(p)
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// Runs npm in `web/`. Its output is kept off stdout (Cargo reads build
/// script directives there) and shown only when it fails.
fn npm(web: &Path, args: &[&str]) -> Result<(), String> {
    let out = Command::new("npm")
        .args(args)
        .current_dir(web)
        .env("CI", "true") // no prompts or progress bars
        .output()
        .map_err(|e| format!("cannot run npm: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let mut err = std::io::stderr();
    let _ = err.write_all(&out.stdout);
    let _ = err.write_all(&out.stderr);
    Err(format!("`npm {}` failed ({})", args.join(" "), out.status))
}

fn files(dir: &Path, into: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            files(&path, into)?;
        } else {
            into.push(path);
        }
    }
    Ok(())
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn compressible(content_type: &str) -> bool {
    content_type.starts_with("text/")
        || content_type.starts_with("application/json")
        || content_type.starts_with("application/manifest")
        || content_type == "image/svg+xml"
}

/// FNV-1a: a stable fingerprint for ETags (not a security boundary).
fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn generate(dir: &Path, placeholder: bool, target: &Path) -> std::io::Result<()> {
    let mut list = Vec::new();
    files(dir, &mut list)?;
    list.sort();
    let gz_dir = target.with_file_name("web-gzip");
    fs::create_dir_all(&gz_dir)?;
    let mut code = String::from("&[\n");
    for (i, path) in list.iter().enumerate() {
        let rel = path
            .strip_prefix(dir)
            .map_err(std::io::Error::other)?
            .to_string_lossy()
            .replace('\\', "/");
        let body = fs::read(path)?;
        let ctype = content_type(path);
        let gzip = if compressible(ctype) && body.len() > 512 {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            enc.write_all(&body)?;
            let gz = enc.finish()?;
            if gz.len() < body.len() {
                let gz_path = gz_dir.join(format!("{i}.gz"));
                fs::write(&gz_path, gz)?;
                format!("Some(include_bytes!({:?}))", gz_path.to_string_lossy())
            } else {
                "None".to_owned()
            }
        } else {
            "None".to_owned()
        };
        let _ = writeln!(
            code,
            "    Asset {{ path: {:?}, body: include_bytes!({:?}), gzip: {gzip}, content_type: {ctype:?}, etag: \"\\\"{:016x}\\\"\" }},",
            format!("/{rel}"),
            path.to_string_lossy(),
            fingerprint(&body),
        );
    }
    code.push(']');
    let module = format!(
        "/// Whether the app was missing at build time (a placeholder page is served).\npub const PLACEHOLDER: bool = {placeholder};\n/// Every file of the built app, sorted by path.\npub static ASSETS: &[Asset] = {code};\n"
    );
    fs::write(target, module)
}
