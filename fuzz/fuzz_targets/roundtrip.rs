//! Payloads made from the input, encoded, cut into pieces: decoding gives them back exactly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smolsock::frame::{encode_into, FrameDecoder};

const MAX: usize = 300;

fuzz_target!(|data: &[u8]| {
    // The input is a list of (length byte, that many bytes); the last byte picks the cut size.
    let Some((&cut, mut data)) = data.split_last() else {
        return;
    };
    let mut payloads = Vec::new();
    while let Some((&len, rest)) = data.split_first() {
        let len = usize::from(len).min(rest.len());
        let (p, rest) = rest.split_at(len);
        payloads.push(p);
        data = rest;
    }
    let mut wire = Vec::new();
    for p in &payloads {
        let mut buf = vec![0u8; p.len() + 4];
        let n = encode_into(p, &mut buf).unwrap();
        wire.extend_from_slice(&buf[..n]);
    }
    let mut decoder: FrameDecoder<MAX> = FrameDecoder::new();
    let mut got: Vec<Vec<u8>> = Vec::new();
    for piece in wire.chunks(usize::from(cut).max(1)) {
        let mut rest = piece;
        while !rest.is_empty() {
            let step = decoder.decode(rest).unwrap();
            if let Some(f) = step.frame {
                got.push(f.to_vec());
            }
            rest = &rest[step.consumed..];
        }
    }
    assert!(decoder.is_idle());
    assert_eq!(got, payloads);
});
