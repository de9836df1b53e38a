// `sqlx::migrate!` embeds `migrations/` at build time; rebuild when it
// changes, or a new migration would be missing from the binary.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
