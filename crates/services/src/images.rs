//! Image intake: the format is recognised from the bytes (never the file name or
//! the declared type), the image is decoded under limits, resized, and
//! re-encoded, which drops EXIF and every other metadata chunk.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, ImageReader, Limits};
use starling_core::{Error, Result};

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
    encode_within(&img, kind, max)
}

/// Recognises and decodes an image under limits (see [`fit_within`]).
pub fn decode(bytes: &[u8]) -> Result<(Kind, DynamicImage)> {
    let kind = sniff(bytes).ok_or_else(unsupported)?;
    let format = match kind {
        Kind::Png => ImageFormat::Png,
        Kind::Jpeg => ImageFormat::Jpeg,
        Kind::Webp => ImageFormat::WebP,
        Kind::Gif => ImageFormat::Gif,
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    // Refuse decompression bombs: a small file claiming a huge canvas.
    limits.max_image_width = Some(12_000);
    limits.max_image_height = Some(12_000);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| Error::Unprocessable {
        code: "invalid_image",
        message: format!("the image could not be read: {e}"),
    })?;
    Ok((kind, img))
}

/// Fits a decoded image within `max` x `max` (never enlarging) and encodes it
/// as [`fit_within`] does.
pub fn encode_within(img: &DynamicImage, kind: Kind, max: u32) -> Result<Processed> {
    let resized;
    let img = if img.width() > max || img.height() > max {
        resized = img.resize(max, max, image::imageops::FilterType::Triangle);
        &resized
    } else {
        img
    };
    let (width, height) = (img.width(), img.height());
    let mut out = Cursor::new(Vec::new());
    let extension = match kind {
        Kind::Jpeg => {
            let rgb = DynamicImage::ImageRgb8(img.to_rgb8());
            let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85);
            rgb.write_with_encoder(enc)
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
