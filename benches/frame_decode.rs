//! Decode throughput of `FrameDecoder` against tokio-util's `LengthDelimitedCodec` and a plain
//! `memcpy` of the same bytes, for payloads of 16 B, 256 B and 4 KiB.
//!
//! Every contender decodes the same input: 256 KiB of back-to-back frames with a 4-byte
//! big-endian length (the default of both codecs). Two ways of delivering it:
//!
//! - `whole`: the input in one slice. `FrameDecoder` hands out frames in place (zero-copy);
//!   `LengthDelimitedCodec` splits them off a `BytesMut` holding the input (the `BytesMut` is
//!   made outside the timed part; splitting it copies nothing either). Neither touches the
//!   payload, so these rows report frames per second only: bytes per second would count bytes
//!   nobody read.
//! - `mss`: the input in 1460-byte pieces, as TCP segments would bring it. Frames that straddle
//!   two pieces are copied by `FrameDecoder` (every 4 KiB frame does); `LengthDelimitedCodec`
//!   gets each piece appended to its `BytesMut`, which is how it is fed from a socket.
//!
//! `memcpy` copies the whole input once into another buffer: the floor for "touch every byte".
//!
//! Run: `cargo bench -p smolsock-benches --bench frame_decode`. After criterion's own report
//! (elements/s for the zero-copy `whole` runs, bytes/s for the others), a summary table (own
//! timing: median of 15 samples) prints frames/s, and GB/s and the time relative to `memcpy`
//! only for the rows that copy bytes (`mss`, `memcpy`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use criterion::{BatchSize, Criterion, Throughput};
use smolsock::frame::{encode_into, Accept, FrameDecoder};
use tokio_util::codec::{Decoder, LengthDelimitedCodec};

const INPUT_BYTES: usize = 256 * 1024;
const MSS: usize = 1460;
const SIZES: [usize; 3] = [16, 256, 4096];

/// Back-to-back frames of `payload` bytes, about `INPUT_BYTES` in all.
fn input(payload: usize) -> (Vec<u8>, usize) {
    let frames = INPUT_BYTES / (payload + 4);
    let mut out = vec![0u8; frames * (payload + 4)];
    let body: Vec<u8> = (0..payload).map(|i| (i % 251) as u8).collect();
    let mut at = 0;
    for _ in 0..frames {
        at += encode_into(&body, &mut out[at..]).unwrap();
    }
    (out, frames)
}

/// `FrameDecoder` over the given pieces; returns the frames seen.
fn smolsock_decode<'a>(
    decoder: &mut FrameDecoder<4096>,
    pieces: impl Iterator<Item = &'a [u8]>,
) -> usize {
    let mut frames = 0;
    for piece in pieces {
        decoder
            .feed(piece, |frame| {
                black_box(frame);
                frames += 1;
                Accept::Taken
            })
            .unwrap();
    }
    frames
}

/// `LengthDelimitedCodec` over a `BytesMut` that already holds the whole input.
fn tokio_decode_whole(codec: &mut LengthDelimitedCodec, mut buf: BytesMut) -> usize {
    let mut frames = 0;
    while let Some(frame) = codec.decode(&mut buf).unwrap() {
        black_box(&frame);
        frames += 1;
    }
    frames
}

/// `LengthDelimitedCodec` fed piece by piece, as from a socket.
fn tokio_decode_pieces<'a>(
    codec: &mut LengthDelimitedCodec,
    buf: &mut BytesMut,
    pieces: impl Iterator<Item = &'a [u8]>,
) -> usize {
    let mut frames = 0;
    for piece in pieces {
        buf.extend_from_slice(piece);
        while let Some(frame) = codec.decode(buf).unwrap() {
            black_box(&frame);
            frames += 1;
        }
    }
    frames
}

fn criterion_benches(c: &mut Criterion) {
    for payload in SIZES {
        let (input, frames) = input(payload);
        let mut group = c.benchmark_group(format!("frame_decode/{payload}B"));
        group.measurement_time(Duration::from_secs(2));
        group.warm_up_time(Duration::from_millis(500));

        let mut decoder = FrameDecoder::<4096>::new();
        // Zero-copy: frames per second.
        group.throughput(Throughput::Elements(frames as u64));
        group.bench_function("smolsock/whole", |b| {
            b.iter(|| {
                assert_eq!(
                    smolsock_decode(&mut decoder, [&input[..]].into_iter()),
                    frames
                )
            })
        });
        let mut codec = LengthDelimitedCodec::new();
        group.bench_function("tokio-util/whole", |b| {
            b.iter_batched(
                || BytesMut::from(&input[..]),
                |buf| assert_eq!(tokio_decode_whole(&mut codec, buf), frames),
                BatchSize::LargeInput,
            )
        });
        // These copy bytes: bytes per second.
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function("smolsock/mss", |b| {
            b.iter(|| assert_eq!(smolsock_decode(&mut decoder, input.chunks(MSS)), frames))
        });
        let mut buf = BytesMut::with_capacity(2 * payload + MSS + 8);
        group.bench_function("tokio-util/mss", |b| {
            b.iter(|| {
                assert_eq!(
                    tokio_decode_pieces(&mut codec, &mut buf, input.chunks(MSS)),
                    frames
                )
            })
        });
        let mut out = vec![0u8; input.len()];
        group.bench_function("memcpy", |b| {
            b.iter(|| {
                out.copy_from_slice(black_box(&input));
                black_box(&mut out);
            })
        });
        group.finish();
    }
}

/// Median seconds per run of `f`, over 15 samples of at least 20 ms each. `setup` makes the
/// input of one run outside the timed part.
fn median_secs<S, F, T>(mut setup: S, mut f: F) -> f64
where
    S: FnMut() -> T,
    F: FnMut(T),
{
    // Calibrate: how many runs make 20 ms.
    let mut runs = 1;
    loop {
        let inputs: Vec<T> = (0..runs).map(|_| setup()).collect();
        let start = Instant::now();
        inputs.into_iter().for_each(&mut f);
        if start.elapsed() >= Duration::from_millis(20) || runs >= 1 << 16 {
            break;
        }
        runs *= 2;
    }
    let mut samples: Vec<f64> = (0..15)
        .map(|_| {
            let inputs: Vec<T> = (0..runs).map(|_| setup()).collect();
            let start = Instant::now();
            inputs.into_iter().for_each(&mut f);
            start.elapsed().as_secs_f64() / runs as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn summary() {
    println!();
    println!("frame_decode summary: {INPUT_BYTES} B of frames per run; median of 15 samples");
    println!(
        "{:>7} {:<28} {:>14} {:>9} {:>14} {:>12}",
        "payload", "decoder", "frames/s", "GB/s", "vs tokio-util", "vs memcpy"
    );
    for payload in SIZES {
        let (input, frames) = input(payload);
        let bytes = input.len() as f64;
        let mut decoder = FrameDecoder::<4096>::new();
        let mut codec = LengthDelimitedCodec::new();
        let mut buf = BytesMut::with_capacity(2 * payload + MSS + 8);
        let mut out = vec![0u8; input.len()];

        let memcpy = median_secs(
            || (),
            |()| {
                out.copy_from_slice(black_box(&input));
                black_box(&mut out);
            },
        );
        let ours_whole = median_secs(
            || (),
            |()| {
                black_box(smolsock_decode(&mut decoder, [&input[..]].into_iter()));
            },
        );
        let ours_mss = median_secs(
            || (),
            |()| {
                black_box(smolsock_decode(&mut decoder, input.chunks(MSS)));
            },
        );
        let tokio_whole = median_secs(
            || BytesMut::from(&input[..]),
            |b| {
                black_box(tokio_decode_whole(&mut codec, b));
            },
        );
        let tokio_mss = median_secs(
            || (),
            |()| {
                black_box(tokio_decode_pieces(&mut codec, &mut buf, input.chunks(MSS)));
            },
        );
        // `copies`: whether the row moves the bytes; only then are GB/s and memcpy comparable.
        let row = |name: &str, secs: f64, tokio: Option<f64>, copies: bool| {
            let vs_tokio = tokio.map_or(String::from("-"), |t| format!("{:.2}x faster", t / secs));
            let (gbs, vs_memcpy) = if copies {
                (
                    format!("{:.2}", bytes / secs / 1e9),
                    format!("{:.2}x", secs / memcpy),
                )
            } else {
                ("-".into(), "-".into())
            };
            println!(
                "{:>6}B {:<28} {:>14.0} {:>9} {:>14} {:>12}",
                payload,
                name,
                frames as f64 / secs,
                gbs,
                vs_tokio,
                vs_memcpy,
            );
        };
        row(
            "smolsock whole (zero-copy)",
            ours_whole,
            Some(tokio_whole),
            false,
        );
        row("tokio-util whole (zero-copy)", tokio_whole, None, false);
        row("smolsock mss", ours_mss, Some(tokio_mss), true);
        row("tokio-util mss", tokio_mss, None, true);
        row("memcpy", memcpy, None, true);
    }
    println!(
        "(zero-copy rows read only the length headers: frames/s, no GB/s. vs memcpy: time \
         relative to one memcpy of the same bytes; below 1 is faster)"
    );
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    criterion_benches(&mut c);
    c.final_summary();
    // Only under `cargo bench`, not when `cargo test --benches` runs each bench once.
    if std::env::args().any(|a| a == "--bench") {
        summary();
    }
}
