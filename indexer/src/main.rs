//! The `indexer` command line.
fn main() {
    eprintln!("indexer: commands arrive with the harvesting work");
    std::process::exit(2);
}
