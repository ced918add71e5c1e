//! Image intake: the format is recognised from the bytes (never the file name or
//! the declared type), the image is decoded under limits, resized, and
//! re-encoded, which drops EXIF and every other metadata chunk.
//!
//! Memory is bounded three ways: dimensions are read from the header and
//! anything over 16 MP is refused before decoding; the decoder may allocate
//! at most 64 MiB; and [`ImageGate`] lets only as many decodes run at once as
//! the configured memory budget affords.

use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use image::{DynamicImage, ImageFormat, ImageReader, Limits};
use starling_core::{Error, Result};
use tokio::sync::Semaphore;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Png,
    Jpeg,
    Webp,
    Gif,
}

/// Recognises PNG, JPEG, WebP and GIF by their magic numbers.
pub fn sniff(bytes: &[u8]) -> Option<Kind> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(Kind::Png)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(Kind::Jpeg)
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(Kind::Webp)
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some(Kind::Gif)
    } else {
        None
    }
}

pub fn unsupported() -> Error {
    Error::UnsupportedMediaType {
        message: "the file must be a PNG, JPEG, WebP or GIF image".into(),
    }
}

/// Most pixels an accepted image may have: 16 megapixels (4096x4096 or the
/// same area). Checked from the header, before anything is decoded.
pub const MAX_PIXELS: u64 = 4096 * 4096;
/// Longest accepted side, whatever the area.
pub const MAX_SIDE: u32 = 16_384;
/// Most memory the decoder may allocate: a 16 MP canvas at 8 bits per RGBA
/// channel. A 16-bit image of that area is refused by this limit.
pub const DECODE_MAX_ALLOC: u64 = 64 * 1024 * 1024;
/// What one image job may hold at its peak: the decoded canvas (at most
/// [`DECODE_MAX_ALLOC`]), the display copy (2048x2048 RGBA, 16 MiB) made
/// from it, and that copy's encoding. The memory budget buys one permit per
/// this much.
pub const JOB_WORST_CASE: u64 = 96 * 1024 * 1024;
/// How long an upload waits for a decode permit before the answer is 503.
pub const PERMIT_WAIT: Duration = Duration::from_secs(2);

/// The refusal of an image over [`MAX_PIXELS`] or [`MAX_SIDE`].
pub fn too_large(width: u32, height: u32) -> Error {
    Error::Unprocessable {
        code: "image_too_large",
        message: format!(
            "the image is {width}x{height} pixels; at most {} megapixels (e.g. 4096x4096) \
             and {MAX_SIDE} pixels a side are accepted",
            MAX_PIXELS / (1024 * 1024)
        ),
    }
}

fn too_large_alloc() -> Error {
    Error::Unprocessable {
        code: "image_too_large",
        message: format!(
            "the image needs more than {} MiB to decode (at most {} megapixels at 8 bits \
             per channel are accepted)",
            DECODE_MAX_ALLOC / (1024 * 1024),
            MAX_PIXELS / (1024 * 1024)
        ),
    }
}

fn image_format(kind: Kind) -> ImageFormat {
    match kind {
        Kind::Png => ImageFormat::Png,
        Kind::Jpeg => ImageFormat::Jpeg,
        Kind::Webp => ImageFormat::WebP,
        Kind::Gif => ImageFormat::Gif,
    }
}

fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(DECODE_MAX_ALLOC);
    limits
}

fn read_error(e: image::ImageError) -> Error {
    match e {
        image::ImageError::Limits(_) => too_large_alloc(),
        e => Error::Unprocessable {
            code: "invalid_image",
            message: format!("the image could not be read: {e}"),
        },
    }
}

/// Recognises an image and reads its dimensions from the header alone (no
/// pixel is decoded); refuses one over [`MAX_PIXELS`] or [`MAX_SIDE`].
pub fn check_header(bytes: &[u8]) -> Result<(Kind, u32, u32)> {
    let kind = sniff(bytes).ok_or_else(unsupported)?;
    let reader = ImageReader::with_format(Cursor::new(bytes), image_format(kind));
    let (width, height) = reader.into_dimensions().map_err(read_error)?;
    if width > MAX_SIDE || height > MAX_SIDE || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(too_large(width, height));
    }
    Ok((kind, width, height))
}

/// Bounds how many images are decoded at once, so that a burst of uploads
/// (decompression bombs included) cannot take more memory than the budget.
#[derive(Clone)]
pub struct ImageGate {
    permits: Arc<Semaphore>,
    size: usize,
    wait: Duration,
}

impl ImageGate {
    /// One permit per [`JOB_WORST_CASE`] of `budget` bytes, at least one.
    pub fn new(budget: u64) -> Self {
        let size = usize::try_from((budget / JOB_WORST_CASE).max(1)).unwrap_or(1);
        ImageGate {
            permits: Arc::new(Semaphore::new(size)),
            size,
            wait: PERMIT_WAIT,
        }
    }

    /// How many images may be decoded at once.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Checks the header (refusing too large images at once), waits up to
    /// [`PERMIT_WAIT`] for a permit (503 `busy` otherwise), then runs `work`
    /// on the blocking pool. The permit goes with the job: an upload whose
    /// client hangs up still holds it until its decode is over.
    pub async fn run<T, F>(&self, bytes: Bytes, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&[u8]) -> Result<T> + Send + 'static,
    {
        check_header(&bytes)?;
        let permit =
            match tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await {
                Ok(Ok(permit)) => permit,
                Ok(Err(e)) => return Err(Error::internal(format!("image permits: {e}"))),
                Err(_) => {
                    return Err(Error::Busy {
                        message: "too many images are being processed; retry shortly".into(),
                        retry_after: Duration::from_secs(1),
                    });
                }
            };
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work(&bytes)
        })
        .await
        .map_err(|e| Error::internal(format!("image task: {e}")))?
    }
}

/// An encoded image ready to store.
pub struct Processed {
    pub bytes: Vec<u8>,
    pub extension: &'static str,
    pub width: u32,
    pub height: u32,
}

/// Decodes, fits within `max` x `max` (never enlarging) and re-encodes:
/// JPEG stays JPEG, everything else becomes PNG (keeps transparency).
pub fn fit_within(bytes: &[u8], max: u32) -> Result<Processed> {
    let (kind, img) = decode(bytes)?;
    encode(&shrink(img, max), kind)
}

/// Decodes once and makes two sizes: `large` (what a viewer opens) and
/// `small` (the preview, made from the large one). The full-size canvas is
/// dropped as soon as the large copy exists; nothing larger is kept.
pub fn fit_twice(bytes: &[u8], large: u32, small: u32) -> Result<(Processed, Processed)> {
    let (kind, img) = decode(bytes)?;
    let large_img = shrink(img, large);
    let small_img = if large_img.width() > small || large_img.height() > small {
        large_img.thumbnail(small, small)
    } else {
        large_img.clone()
    };
    Ok((encode(&large_img, kind)?, encode(&small_img, kind)?))
}

/// Recognises and decodes an image under limits: its header first (see
/// [`check_header`]), then the pixels with at most [`DECODE_MAX_ALLOC`].
pub fn decode(bytes: &[u8]) -> Result<(Kind, DynamicImage)> {
    let (kind, _, _) = check_header(bytes)?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), image_format(kind));
    reader.limits(limits());
    let img = reader.decode().map_err(read_error)?;
    Ok((kind, img))
}

/// Fits within `max` x `max`, never enlarging. Area averaging
/// (`thumbnail`) works in the image's own pixel type: unlike `resize`, it
/// needs no floating-point copy of the canvas.
fn shrink(img: DynamicImage, max: u32) -> DynamicImage {
    if img.width() > max || img.height() > max {
        img.thumbnail(max, max)
    } else {
        img
    }
}

fn encode(img: &DynamicImage, kind: Kind) -> Result<Processed> {
    let (width, height) = (img.width(), img.height());
    let mut out = Cursor::new(Vec::new());
    let extension = match kind {
        Kind::Jpeg => {
            let converted;
            let img = match img {
                DynamicImage::ImageRgb8(_) | DynamicImage::ImageLuma8(_) => img,
                other => {
                    converted = DynamicImage::ImageRgb8(other.to_rgb8());
                    &converted
                }
            };
            let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85);
            img.write_with_encoder(enc)
                .map_err(|e| Error::internal(format!("encoding jpeg: {e}")))?;
            "jpg"
        }
        _ => {
            img.write_to(&mut out, ImageFormat::Png)
                .map_err(|e| Error::internal(format!("encoding png: {e}")))?;
            "png"
        }
    };
    Ok(Processed {
        bytes: out.into_inner(),
        extension,
        width,
        height,
    })
}

/// The content type for a stored media key, from its extension.
pub fn content_type_for(key: &str) -> &'static str {
    match key.rsplit('.').next() {
        Some("png") => "image/png",
        Some("jpg") | Some("jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        Some("gif") => "image/gif",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_magic_numbers_only() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some(Kind::Png));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(Kind::Jpeg));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(Kind::Webp));
        assert_eq!(sniff(b"GIF89a..."), Some(Kind::Gif));
        assert_eq!(sniff(b"<svg xmlns=...>"), None);
        assert_eq!(sniff(b"%PDF-1.4"), None);
    }

    fn grey_png(w: u32, h: u32) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        image::GrayImage::new(w, h)
            .write_to(&mut out, ImageFormat::Png)
            .unwrap();
        out.into_inner()
    }

    #[test]
    fn dimensions_are_checked_from_the_header() {
        assert_eq!(
            check_header(&grey_png(4096, 4096)).unwrap(),
            (Kind::Png, 4096, 4096)
        );
        for (w, h) in [(4097, 4096), (8000, 8000), (MAX_SIDE + 1, 1)] {
            match check_header(&grey_png(w, h)) {
                Err(Error::Unprocessable { code, message }) => {
                    assert_eq!(code, "image_too_large");
                    assert!(message.contains(&format!("{w}x{h}")), "{message}");
                }
                Err(other) => panic!("{w}x{h}: {other:?}"),
                Ok(_) => panic!("{w}x{h} accepted"),
            }
        }
    }

    #[tokio::test]
    async fn the_gate_runs_one_job_per_permit_and_answers_busy_when_full() {
        let gate = ImageGate {
            wait: Duration::from_millis(100),
            ..ImageGate::new(JOB_WORST_CASE + JOB_WORST_CASE / 2)
        };
        assert_eq!(gate.size(), 1);
        assert_eq!(ImageGate::new(256 * 1024 * 1024).size(), 2);
        assert_eq!(ImageGate::new(0).size(), 1, "never zero");
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let png = Bytes::from(grey_png(8, 8));
        let held = tokio::spawn({
            let (gate, png) = (gate.clone(), png.clone());
            async move {
                gate.run(png, move |_| {
                    let _ = wait.recv();
                    Ok(())
                })
                .await
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        match gate.run(png.clone(), |b| fit_within(b, 4)).await {
            Err(Error::Busy { retry_after, .. }) => assert!(retry_after >= Duration::from_secs(1)),
            Err(e) => panic!("{e:?}"),
            Ok(_) => panic!("ran without a permit"),
        }
        release.send(()).unwrap();
        held.await.unwrap().unwrap();
        let p = gate.run(png, |b| fit_within(b, 4)).await.unwrap();
        assert_eq!((p.width, p.height), (4, 4));
    }

    #[test]
    fn large_images_are_fitted_and_small_ones_kept() {
        let big = DynamicImage::new_rgb8(1200, 600);
        let mut png = Cursor::new(Vec::new());
        big.write_to(&mut png, ImageFormat::Png).unwrap();
        let p = fit_within(png.get_ref(), 400).unwrap();
        assert_eq!((p.width, p.height, p.extension), (400, 200, "png"));
        let small = DynamicImage::new_rgb8(50, 40);
        let mut jpg = Cursor::new(Vec::new());
        small.write_to(&mut jpg, ImageFormat::Jpeg).unwrap();
        let p = fit_within(jpg.get_ref(), 400).unwrap();
        assert_eq!((p.width, p.height, p.extension), (50, 40, "jpg"));
    }
}
