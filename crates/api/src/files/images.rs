//! Uploaded images: read within limits, served without their metadata, and shown
//! small by a thumbnail made here.
//!
//! Only PNG, JPEG, GIF and WebP are read (the types shown in the page). An image is
//! decoded under [`limits`], so a small file that claims a huge picture (a
//! decompression bomb) is refused rather than allowed to exhaust memory; an image
//! that cannot be decoded is kept as a plain file, without a thumbnail.

use std::io::Cursor;

use actix_web::web::Bytes;
use image::codecs::jpeg::JpegEncoder;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits};
use img_parts::ImageEXIF;
use img_parts::jpeg::Jpeg;
use img_parts::png::Png;
use img_parts::webp::WebP;

/// The longest side of a thumbnail, in pixels.
pub const THUMBNAIL_SIDE: u32 = 400;
/// The widest or tallest picture decoded.
pub const MAX_SIDE: u32 = 16_384;
/// The most memory one decode may take.
pub const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;
const THUMBNAIL_JPEG_QUALITY: u8 = 82;

/// What was made of an image.
#[derive(Debug)]
pub struct Processed {
    /// As it is shown, turned as its EXIF orientation says.
    pub width: u32,
    pub height: u32,
    /// The file without its metadata, when anything was removed.
    pub stripped: Option<Bytes>,
    pub thumbnail: Bytes,
    pub thumbnail_type: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum ImageRefused {
    /// Larger than [`MAX_SIDE`] or than [`MAX_DECODE_BYTES`] decoded.
    #[error("the image is too large to read (at most {MAX_SIDE} pixels a side)")]
    TooLarge,
    /// Not an image after all, or a damaged one: kept as a plain file.
    #[error("the image cannot be read: {0}")]
    Undecodable(ImageError),
}

/// The format of an image type this module reads.
pub fn format_of(content_type: &str) -> Option<ImageFormat> {
    match content_type {
        "image/png" => Some(ImageFormat::Png),
        "image/jpeg" => Some(ImageFormat::Jpeg),
        "image/gif" => Some(ImageFormat::Gif),
        "image/webp" => Some(ImageFormat::WebP),
        _ => None,
    }
}

pub fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    limits
}

/// Reads `bytes` as `format`: its size, its thumbnail, and the file without its
/// metadata. Blocking and CPU-heavy: call on a blocking thread.
pub fn process(bytes: &Bytes, format: ImageFormat) -> Result<Processed, ImageRefused> {
    let refused = |error: ImageError| match error {
        ImageError::Limits(_) => ImageRefused::TooLarge,
        other => ImageRefused::Undecodable(other),
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes.as_ref()), format);
    reader.limits(limits());
    let mut decoder = reader.into_decoder().map_err(refused)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut picture = DynamicImage::from_decoder(decoder).map_err(refused)?;
    picture.apply_orientation(orientation);
    let (thumbnail, thumbnail_type) = thumbnail(&picture).map_err(refused)?;
    Ok(Processed {
        width: picture.width(),
        height: picture.height(),
        stripped: strip_metadata(bytes, format, orientation),
        thumbnail,
        thumbnail_type,
    })
}

/// At most [`THUMBNAIL_SIDE`] pixels a side, re-encoded (so it carries nothing of
/// the original file): JPEG, or PNG when the image has transparency.
fn thumbnail(picture: &DynamicImage) -> Result<(Bytes, &'static str), ImageError> {
    let small = if picture.width() > THUMBNAIL_SIDE || picture.height() > THUMBNAIL_SIDE {
        picture.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE)
    } else {
        picture.clone()
    };
    let mut out = Cursor::new(Vec::new());
    if small.color().has_alpha() {
        small.write_to(&mut out, ImageFormat::Png)?;
        Ok((Bytes::from(out.into_inner()), "image/png"))
    } else {
        let encoder = JpegEncoder::new_with_quality(&mut out, THUMBNAIL_JPEG_QUALITY);
        DynamicImage::ImageRgb8(small.to_rgb8()).write_with_encoder(encoder)?;
        Ok((Bytes::from(out.into_inner()), "image/jpeg"))
    }
}

/// The file without EXIF (where a camera writes where and when), XMP, IPTC,
/// comments and text chunks, the picture itself untouched. A JPEG keeps only its
/// orientation, so that it still shows upright. `None` when there was nothing to
/// remove, or the file is not laid out as its format says.
fn strip_metadata(bytes: &Bytes, format: ImageFormat, orientation: Orientation) -> Option<Bytes> {
    let stripped = match format {
        ImageFormat::Jpeg => {
            let mut jpeg = Jpeg::from_bytes(bytes.clone()).ok()?;
            jpeg.segments_mut()
                .retain(|segment| keeps_jpeg_segment(segment.marker(), segment.contents()));
            if orientation != Orientation::NoTransforms {
                jpeg.set_exif(Some(orientation_only_exif(orientation.to_exif())));
            }
            jpeg.encoder().bytes()
        }
        ImageFormat::Png => {
            let mut png = Png::from_bytes(bytes.clone()).ok()?;
            png.chunks_mut()
                .retain(|chunk| KEPT_PNG_CHUNKS.contains(&&chunk.kind()));
            png.encoder().bytes()
        }
        ImageFormat::WebP => {
            let mut webp = WebP::from_bytes(bytes.clone()).ok()?;
            webp.set_exif(None);
            webp.remove_chunks_by_id(*b"XMP ");
            webp.encoder().bytes()
        }
        ImageFormat::Gif => Bytes::from(strip_gif(bytes)?),
        _ => return None,
    };
    (stripped.len() != bytes.len()).then_some(stripped)
}

/// A GIF without its comments and application data (XMP among them), keeping the
/// loop count (`NETSCAPE2.0`, `ANIMEXTS1.0`) and colour profiles (`ICCRGBG1`):
/// the blocks are copied as they are, those dropped skipped whole.
fn strip_gif(gif: &[u8]) -> Option<Vec<u8>> {
    /// The length of the data sub-blocks starting at `at`, with their terminator.
    fn sub_blocks(gif: &[u8], mut at: usize) -> Option<usize> {
        let start = at;
        loop {
            let size = usize::from(*gif.get(at)?);
            at += 1 + size;
            if size == 0 {
                return Some(at - start);
            }
        }
    }
    /// Bytes of a colour table, if `packed` says there is one.
    fn color_table(packed: u8) -> usize {
        if packed & 0x80 == 0 {
            0
        } else {
            3 << ((packed & 0x07) + 1)
        }
    }
    let screen = 13 + color_table(*gif.get(10)?);
    let mut out = gif.get(..screen)?.to_vec();
    let mut at = screen;
    loop {
        match *gif.get(at)? {
            0x3B => {
                out.push(0x3B);
                return Some(out);
            }
            0x2C => {
                let descriptor = 10 + color_table(*gif.get(at + 9)?);
                // The LZW code size, then the image data's sub-blocks.
                let length = descriptor + 1 + sub_blocks(gif, at + descriptor + 1)?;
                out.extend_from_slice(gif.get(at..at + length)?);
                at += length;
            }
            0x21 => {
                let label = *gif.get(at + 1)?;
                let length = 2 + sub_blocks(gif, at + 2)?;
                let block = gif.get(at..at + length)?;
                let kept = match label {
                    0xFE => false,
                    0xFF => {
                        let identifier = block.get(3..14)?;
                        [&b"NETSCAPE2.0"[..], b"ANIMEXTS1.0", b"ICCRGBG1012"].contains(&identifier)
                    }
                    _ => true,
                };
                if kept {
                    out.extend_from_slice(block);
                }
                at += length;
            }
            _ => return None,
        }
    }
}

const APP0: u8 = 0xE0;
const APP2: u8 = 0xE2;
const APP14: u8 = 0xEE;
const APP15: u8 = 0xEF;
const COM: u8 = 0xFE;

/// JPEG segments kept: everything that makes the picture, JFIF (APP0), the colour
/// profile (APP2 `ICC_PROFILE`) and Adobe's colour transform (APP14). EXIF and XMP
/// (APP1), IPTC (APP13), other application data and comments go.
fn keeps_jpeg_segment(marker: u8, contents: &[u8]) -> bool {
    match marker {
        APP0 | APP14 => true,
        APP2 => contents.starts_with(b"ICC_PROFILE\0"),
        m if (APP0..=APP15).contains(&m) => false,
        COM => false,
        _ => true,
    }
}

/// PNG chunks kept: the picture, its palette and transparency, colour and pixel
/// size, and animation. Text (`tEXt`, `zTXt`, `iTXt`), `eXIf`, `tIME` and anything
/// unknown go.
const KEPT_PNG_CHUNKS: [&[u8; 4]; 16] = [
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"cHRM", b"gAMA", b"iCCP", b"sBIT", b"sRGB",
    b"cICP", b"bKGD", b"pHYs", b"acTL", b"fcTL", b"fdAT",
];

/// An EXIF block (TIFF, big-endian) holding one tag: Orientation = `value`.
fn orientation_only_exif(value: u8) -> Bytes {
    let mut exif = Vec::with_capacity(26);
    exif.extend_from_slice(b"MM\0\x2a\0\0\0\x08"); // header; the IFD at offset 8
    exif.extend_from_slice(&1u16.to_be_bytes()); // one entry
    exif.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    exif.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    exif.extend_from_slice(&1u32.to_be_bytes()); // one value
    exif.extend_from_slice(&[0, value, 0, 0]); // the value, left-justified
    exif.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    Bytes::from(exif)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage, Rgba, RgbaImage};

    fn encoded(picture: &DynamicImage, format: ImageFormat) -> Bytes {
        let mut out = Cursor::new(Vec::new());
        picture.write_to(&mut out, format).expect("encode");
        Bytes::from(out.into_inner())
    }

    #[test]
    fn a_large_image_gets_a_small_thumbnail_and_keeps_its_size() {
        let picture = DynamicImage::ImageRgb8(RgbImage::from_pixel(1200, 600, Rgb([9, 80, 200])));
        let processed =
            process(&encoded(&picture, ImageFormat::Png), ImageFormat::Png).expect("an image");
        assert_eq!((processed.width, processed.height), (1200, 600));
        assert_eq!(processed.thumbnail_type, "image/jpeg");
        let thumbnail = image::load_from_memory(&processed.thumbnail).expect("a thumbnail");
        assert_eq!((thumbnail.width(), thumbnail.height()), (400, 200));
    }

    #[test]
    fn transparency_keeps_a_png_thumbnail() {
        let picture = DynamicImage::ImageRgba8(RgbaImage::from_pixel(10, 10, Rgba([0, 0, 0, 0])));
        let processed =
            process(&encoded(&picture, ImageFormat::Png), ImageFormat::Png).expect("an image");
        assert_eq!(processed.thumbnail_type, "image/png");
    }

    #[test]
    fn png_text_and_exif_chunks_are_removed() {
        let picture = DynamicImage::ImageRgb8(RgbImage::from_pixel(4, 4, Rgb([1, 2, 3])));
        let mut png = Png::from_bytes(encoded(&picture, ImageFormat::Png)).expect("png");
        let at = png.chunks().len() - 1;
        png.chunks_mut().insert(
            at,
            img_parts::png::PngChunk::new(*b"tEXt", Bytes::from_static(b"GPS\x0052.1N 4.3E")),
        );
        png.set_exif(Some(Bytes::from_static(b"MM\0*secret")));
        let with_metadata = png.encoder().bytes();
        let processed = process(&with_metadata, ImageFormat::Png).expect("an image");
        let stripped = processed.stripped.expect("something removed");
        let text = String::from_utf8_lossy(&stripped);
        assert!(!text.contains("52.1N") && !text.contains("secret"));
        image::load_from_memory(&stripped).expect("still an image");
    }

    #[test]
    fn jpeg_exif_goes_but_its_orientation_stays() {
        let picture = DynamicImage::ImageRgb8(RgbImage::from_pixel(8, 4, Rgb([200, 10, 10])));
        let mut jpeg = Jpeg::from_bytes(encoded(&picture, ImageFormat::Jpeg)).expect("jpeg");
        // Orientation 6 (turn 90° clockwise) and a comment with a position.
        jpeg.set_exif(Some(orientation_only_exif(6)));
        jpeg.segments_mut().insert(
            1,
            img_parts::jpeg::JpegSegment::new_with_contents(COM, Bytes::from_static(b"GPS 52.1N")),
        );
        let original = jpeg.encoder().bytes();
        let processed = process(&original, ImageFormat::Jpeg).expect("an image");
        assert_eq!((processed.width, processed.height), (4, 8), "shown upright");
        let stripped = processed.stripped.expect("the comment removed");
        assert!(!String::from_utf8_lossy(&stripped).contains("52.1N"));
        let kept = Jpeg::from_bytes(stripped).expect("jpeg");
        assert_eq!(kept.exif(), Some(orientation_only_exif(6)));
    }

    #[test]
    fn gif_comments_and_xmp_go_and_the_loop_stays() {
        use image::codecs::gif::{GifEncoder, Repeat};
        let mut out = Vec::new();
        {
            let mut encoder = GifEncoder::new(&mut out);
            encoder.set_repeat(Repeat::Infinite).expect("loop");
            let frame = image::Frame::new(RgbaImage::from_pixel(3, 2, Rgba([250, 0, 0, 255])));
            encoder
                .encode_frames([frame.clone(), frame])
                .expect("encode");
        }
        // A comment and an XMP application block before the first image.
        let first_image = out.iter().position(|&b| b == 0x21).expect("an extension");
        let mut gif = out[..first_image].to_vec();
        gif.extend_from_slice(b"\x21\xFE\x0cGPS 52.1N 4E\x00");
        gif.extend_from_slice(b"\x21\xFF\x0bXMP DataXMP\x08<x:xmp/>\x00");
        gif.extend_from_slice(&out[first_image..]);
        let processed = process(&Bytes::from(gif), ImageFormat::Gif).expect("an image");
        let stripped = processed.stripped.expect("something removed");
        let text = String::from_utf8_lossy(&stripped);
        assert!(!text.contains("52.1N") && !text.contains("XMP"), "{text}");
        assert!(text.contains("NETSCAPE2.0"), "the loop count stays");
        assert_eq!(stripped.as_ref(), out.as_slice());
        image::load_from_memory(&stripped).expect("still an image");
    }

    #[test]
    fn a_decompression_bomb_is_refused_and_garbage_is_undecodable() {
        // A PNG header claiming 100,000 × 100,000 pixels.
        let mut png = Png::from_bytes(encoded(
            &DynamicImage::ImageRgb8(RgbImage::new(1, 1)),
            ImageFormat::Png,
        ))
        .expect("png");
        let mut header = png.chunks()[0].contents().to_vec();
        header[0..4].copy_from_slice(&100_000u32.to_be_bytes());
        header[4..8].copy_from_slice(&100_000u32.to_be_bytes());
        png.chunks_mut()[0] = img_parts::png::PngChunk::new(*b"IHDR", Bytes::from(header));
        let bomb = png.encoder().bytes();
        assert!(matches!(
            process(&bomb, ImageFormat::Png),
            Err(ImageRefused::TooLarge)
        ));
        let garbage = Bytes::from_static(b"\x89PNG\r\n\x1a\nnot really");
        assert!(matches!(
            process(&garbage, ImageFormat::Png),
            Err(ImageRefused::Undecodable(_))
        ));
    }
}
