//! Generates tonic/prost code, canonical proto3 JSON (pbjson) impls and a
//! file-descriptor set (for gRPC reflection) from every `.proto` under `loyalty/`.

use std::path::{Path, PathBuf};

fn collect_protos(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path);
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("PROTOC").is_none() {
        // SAFETY: the build script is single-threaded here; nothing reads the environment concurrently.
        unsafe { std::env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?) };
    }
    let mut protos = Vec::new();
    collect_protos(Path::new("loyalty"), &mut protos)?;
    protos.sort();
    println!("cargo:rerun-if-changed=loyalty");
    println!("cargo:rerun-if-changed=build.rs");

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptor_path = out_dir.join("loyalty_descriptor.bin");
    tonic_prost_build::configure()
        .file_descriptor_set_path(&descriptor_path)
        .compile_well_known_types(true)
        .extern_path(".google.protobuf", "::pbjson_types")
        // Canonical (Z-normalised) JSON for timestamps; see src/wkt.rs.
        .extern_path(".google.protobuf.Timestamp", "crate::wkt::Timestamp")
        .compile_protos(&protos, &[PathBuf::from(".")])?;

    let set = std::fs::read(&descriptor_path)?;
    pbjson_build::Builder::new()
        .register_descriptors(&set)?
        .extern_path(".google.protobuf.Timestamp", "crate::wkt::Timestamp")
        .build(&[".loyalty"])?;
    Ok(())
}
