//! Random bytes, cut into random pieces, with random refusals: the decoder must never panic,
//! never hold more than MAX, and deliver exactly what it delivers on the unsplit input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smolsock::frame::{Accept, FrameDecoder, FrameError, U16Le};

const MAX: usize = 64;

/// Frames (as (start, len) into a log) and the error, if any.
#[derive(Debug, PartialEq)]
struct Outcome {
    frames: Vec<Vec<u8>>,
    error: Option<FrameError>,
}

/// Decode `stream` in one piece, taking every frame.
fn whole(stream: &[u8]) -> Outcome {
    let mut decoder: FrameDecoder<MAX> = FrameDecoder::new();
    let mut frames = Vec::new();
    let error = decoder
        .feed(stream, |f| {
            frames.push(f.to_vec());
            Accept::Taken
        })
        .err();
    Outcome { frames, error }
}

/// Decode `stream` cut at the lengths `cuts` gives, refusing offers as `refuse` says.
fn pieces(stream: &[u8], cuts: &[u8], refuse: u8) -> Outcome {
    let mut decoder: FrameDecoder<MAX> = FrameDecoder::new();
    let mut frames = Vec::new();
    let mut rest = stream;
    let mut cut = cuts.iter().cycle();
    let mut offer = 0u32;
    let mut refused_last = false;
    while !rest.is_empty() {
        let n = usize::from(*cut.next().unwrap_or(&255)).max(1).min(rest.len());
        let (mut piece, tail) = rest.split_at(n);
        rest = tail;
        loop {
            let result = decoder.feed(piece, |f| {
                assert!(f.len() <= MAX);
                offer += 1;
                if !refused_last && refuse != 0 && offer % u32::from(refuse) == 0 {
                    refused_last = true;
                    Accept::Later
                } else {
                    refused_last = false;
                    frames.push(f.to_vec());
                    Accept::Taken
                }
            });
            assert!(decoder.buffered() <= MAX);
            match result {
                Ok(p) => {
                    assert!(p.bytes <= piece.len());
                    piece = &piece[p.bytes..];
                    if !p.deferred {
                        assert!(piece.is_empty());
                        break;
                    }
                }
                Err(e) => {
                    // Poisoned: the same error again, and nothing consumed.
                    assert_eq!(decoder.feed(rest, |_| Accept::Taken), Err(e));
                    assert_eq!(decoder.error(), Some(e));
                    return Outcome {
                        frames,
                        error: Some(e),
                    };
                }
            }
        }
    }
    Outcome {
        frames,
        error: None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&refuse, data)) = data.split_first() else {
        return;
    };
    let Some((&ncuts, data)) = data.split_first() else {
        return;
    };
    let (cuts, stream) = data.split_at(usize::from(ncuts % 16).min(data.len()));
    let cuts = if cuts.is_empty() { &[1u8][..] } else { cuts };

    assert_eq!(pieces(stream, cuts, refuse % 4), whole(stream));

    // The one-frame-per-step API agrees too.
    let mut decoder: FrameDecoder<MAX> = FrameDecoder::new();
    let mut frames = Vec::new();
    let mut rest = stream;
    let mut error = None;
    while !rest.is_empty() {
        match decoder.decode(rest) {
            Ok(step) => {
                assert!(step.consumed <= rest.len());
                if let Some(f) = step.frame {
                    frames.push(f.to_vec());
                } else {
                    assert_eq!(step.consumed, rest.len());
                }
                rest = &rest[step.consumed..];
            }
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    assert_eq!(Outcome { frames, error }, whole(stream));

    // Another header format must not panic either.
    let mut decoder: FrameDecoder<MAX, U16Le> = FrameDecoder::new();
    for piece in stream.chunks(usize::from(cuts[0]).max(1)) {
        if decoder.feed(piece, |f| {
            assert!(f.len() <= MAX);
            Accept::Taken
        })
        .is_err()
        {
            break;
        }
    }
});
