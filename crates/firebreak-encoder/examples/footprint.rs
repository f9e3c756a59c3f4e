//! Prints the vocabulary size and the tokeniser automaton's heap bytes.
fn main() {
    let (vocab, automaton) = firebreak_encoder::Encoder::shared().footprint();
    println!(
        "vocabulary {vocab} pieces, tokeniser automaton {:.1} MB",
        automaton as f64 / 1e6
    );
}
