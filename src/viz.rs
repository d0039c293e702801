//! Pictures for humans: image grids, line plots, histograms and scatter plots, saved as PNG.
//!
//! Everything is drawn on the CPU straight into an [`image::RgbImage`]; there is no plotting
//! or font crate. Text uses the small bitmap font embedded below (`FONT`), lines use
//! Bresenham's algorithm. The drawing code is deliberately plain so that it is easy to read
//! and to change.
//!
//! All functions accept awkward input without panicking: empty lists, NaN, infinities,
//! single points. A plot without anything to draw still shows its axes and says "no data".

use std::io::Cursor;
use std::path::Path;

use anyhow::Context;
use image::{ImageFormat, Rgb, RgbImage};

// ---------------------------------------------------------------------------------------
// Colours and sizes
// ---------------------------------------------------------------------------------------

const WHITE: Rgb<u8> = Rgb([255, 255, 255]);
const TEXT: Rgb<u8> = Rgb([25, 25, 25]);
const MUTED: Rgb<u8> = Rgb([130, 130, 130]);
const AXIS: Rgb<u8> = Rgb([70, 70, 70]);
const GRIDLINE: Rgb<u8> = Rgb([228, 228, 228]);
/// Gutters and borders of image grids, and the background of [`labelled_rows`].
const GUTTER: Rgb<u8> = Rgb([64, 64, 64]);
/// Text on the [`GUTTER`] background.
const GUTTER_TEXT: Rgb<u8> = Rgb([235, 235, 235]);
/// How NaN pixels show up in image grids.
const NAN_RED: Rgb<u8> = Rgb([255, 0, 0]);
const BAR: Rgb<u8> = Rgb([70, 130, 180]);
const MARKER: Rgb<u8> = Rgb([214, 39, 40]);
/// The ten "tab10" colours: distinct, and familiar from matplotlib.
const PALETTE: [Rgb<u8>; 10] = [
    Rgb([31, 119, 180]),
    Rgb([255, 127, 14]),
    Rgb([44, 160, 44]),
    Rgb([214, 39, 40]),
    Rgb([148, 103, 189]),
    Rgb([140, 86, 75]),
    Rgb([227, 119, 194]),
    Rgb([127, 127, 127]),
    Rgb([188, 189, 34]),
    Rgb([23, 190, 207]),
];

/// Width in pixels of the gutters between grid cells and around the grid.
const GUTTER_PX: u32 = 2;
/// At most this many ticks per axis (the tick pickers aim for about five).
const MAX_TICKS: usize = 7;
/// Series with at most this many points also get a marker at every point.
const MARKERS_UP_TO: usize = 30;
/// At most this many rows of legend entries; further entries are summarised as "+N more".
const MAX_LEGEND_ROWS: usize = 3;

// ---------------------------------------------------------------------------------------
// Bitmap font
// ---------------------------------------------------------------------------------------

/// Glyph width in font pixels.
const GLYPH_W: i64 = 5;
/// Glyph height in font pixels: 7 rows above the baseline plus 1 row for descenders.
const GLYPH_H: i64 = 8;
/// Horizontal advance per character in font pixels (glyph plus one blank column).
const ADVANCE: i64 = 6;
/// Height of capital letters and digits in font pixels (used to centre text vertically).
const CAP_H: i64 = 7;

/// A 5×8 bitmap font for printable ASCII (`' '` to `'~'`, codes 32..=126), in the style of
/// classic character LCDs. Each glyph is 8 rows, top to bottom; in each row bit 4 (`0x10`)
/// is the leftmost pixel and bit 0 the rightmost. Row 7 is only used by descenders (g j p q y).
#[rustfmt::skip]
const FONT: [[u8; 8]; 95] = [
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], // ' '
    [0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04, 0x00], // !
    [0x0A, 0x0A, 0x0A, 0x00, 0x00, 0x00, 0x00, 0x00], // "
    [0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A, 0x00], // #
    [0x04, 0x0F, 0x14, 0x0E, 0x05, 0x1E, 0x04, 0x00], // $
    [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03, 0x00], // %
    [0x0C, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0D, 0x00], // &
    [0x0C, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00], // '
    [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02, 0x00], // (
    [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08, 0x00], // )
    [0x00, 0x04, 0x15, 0x0E, 0x15, 0x04, 0x00, 0x00], // *
    [0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00, 0x00], // +
    [0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08, 0x00], // ,
    [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00, 0x00], // -
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C, 0x00], // .
    [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00, 0x00], // /
    [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E, 0x00], // 0
    [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E, 0x00], // 1
    [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F, 0x00], // 2
    [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E, 0x00], // 3
    [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02, 0x00], // 4
    [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E, 0x00], // 5
    [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E, 0x00], // 6
    [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08, 0x00], // 7
    [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E, 0x00], // 8
    [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C, 0x00], // 9
    [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00, 0x00], // :
    [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x04, 0x08, 0x00], // ;
    [0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02, 0x00], // <
    [0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00, 0x00], // =
    [0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08, 0x00], // >
    [0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04, 0x00], // ?
    [0x0E, 0x11, 0x01, 0x0D, 0x15, 0x15, 0x0E, 0x00], // @
    [0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x00], // A
    [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E, 0x00], // B
    [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E, 0x00], // C
    [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C, 0x00], // D
    [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F, 0x00], // E
    [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10, 0x00], // F
    [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F, 0x00], // G
    [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11, 0x00], // H
    [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E, 0x00], // I
    [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C, 0x00], // J
    [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11, 0x00], // K
    [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F, 0x00], // L
    [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11, 0x00], // M
    [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0x00], // N
    [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E, 0x00], // O
    [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10, 0x00], // P
    [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D, 0x00], // Q
    [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11, 0x00], // R
    [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E, 0x00], // S
    [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x00], // T
    [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E, 0x00], // U
    [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04, 0x00], // V
    [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A, 0x00], // W
    [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11, 0x00], // X
    [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x00], // Y
    [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F, 0x00], // Z
    [0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E, 0x00], // [
    [0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00, 0x00], // \
    [0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E, 0x00], // ]
    [0x04, 0x0A, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00], // ^
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F, 0x00], // _
    [0x08, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00], // `
    [0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F, 0x00], // a
    [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E, 0x00], // b
    [0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E, 0x00], // c
    [0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F, 0x00], // d
    [0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E, 0x00], // e
    [0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08, 0x00], // f
    [0x00, 0x00, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x0E], // g
    [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11, 0x00], // h
    [0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E, 0x00], // i
    [0x02, 0x00, 0x06, 0x02, 0x02, 0x02, 0x12, 0x0C], // j
    [0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12, 0x00], // k
    [0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E, 0x00], // l
    [0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11, 0x00], // m
    [0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11, 0x00], // n
    [0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E, 0x00], // o
    [0x00, 0x00, 0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10], // p
    [0x00, 0x00, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x01], // q
    [0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10, 0x00], // r
    [0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E, 0x00], // s
    [0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06, 0x00], // t
    [0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D, 0x00], // u
    [0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04, 0x00], // v
    [0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A, 0x00], // w
    [0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x00], // x
    [0x00, 0x00, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x0E], // y
    [0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F, 0x00], // z
    [0x02, 0x04, 0x04, 0x08, 0x04, 0x04, 0x02, 0x00], // {
    [0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x00], // |
    [0x08, 0x04, 0x04, 0x02, 0x04, 0x04, 0x08, 0x00], // }
    [0x00, 0x00, 0x08, 0x15, 0x02, 0x00, 0x00, 0x00], // ~
];

/// The glyph for `c`; characters outside printable ASCII are drawn as `?`.
fn glyph(c: char) -> &'static [u8; 8] {
    let code = c as usize;
    let index = if (32..=126).contains(&code) {
        code - 32
    } else {
        '?' as usize - 32
    };
    &FONT[index]
}

/// Width in pixels of `text` drawn at `scale` (no trailing blank column).
fn text_width(text: &str, scale: i64) -> i64 {
    let chars = text.chars().count() as i64;
    if chars == 0 {
        0
    } else {
        (chars * ADVANCE - 1) * scale
    }
}

/// Height in pixels of one line of text at `scale`, descenders included.
fn text_height(scale: i64) -> i64 {
    GLYPH_H * scale
}

/// `text`, shortened with "..." so that it is at most `max_px` wide at `scale`.
fn ellipsize(text: &str, max_px: i64, scale: i64) -> String {
    if text_width(text, scale) <= max_px {
        return text.to_string();
    }
    let mut out = String::new();
    for c in text.chars() {
        out.push(c);
        if text_width(&out, scale) + text_width("...", scale) + ADVANCE * scale > max_px {
            out.pop();
            break;
        }
    }
    out.push_str("...");
    out
}

/// Draw `text` with its top-left corner at (`x`, `y`), each font pixel `scale`×`scale`.
fn draw_text(img: &mut RgbImage, x: i64, y: i64, text: &str, scale: i64, colour: Rgb<u8>) {
    for (i, c) in text.chars().enumerate() {
        let left = x + i as i64 * ADVANCE * scale;
        for (row, bits) in glyph(c).iter().enumerate() {
            for col in 0..GLYPH_W {
                if bits & (0x10 >> col) != 0 {
                    let (px, py) = (left + col * scale, y + row as i64 * scale);
                    fill_rect(img, px, py, scale, scale, colour);
                }
            }
        }
    }
}

/// Draw `text` rotated a quarter turn anticlockwise (reading bottom to top), as used for a
/// y-axis label. (`x`, `y`) is the top-left corner of the rotated text's bounding box, which
/// is `text_height` wide and `text_width` tall.
fn draw_text_up(img: &mut RgbImage, x: i64, y: i64, text: &str, scale: i64, colour: Rgb<u8>) {
    let length = text_width(text, scale);
    for (i, c) in text.chars().enumerate() {
        for (row, bits) in glyph(c).iter().enumerate() {
            for col in 0..GLYPH_W {
                if bits & (0x10 >> col) != 0 {
                    // Position along the text, and across it, in unrotated pixels.
                    let along = (i as i64 * ADVANCE + col) * scale;
                    let across = row as i64 * scale;
                    fill_rect(
                        img,
                        x + across,
                        y + length - along - scale,
                        scale,
                        scale,
                        colour,
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Pixel primitives (all clipped, so callers never index out of bounds)
// ---------------------------------------------------------------------------------------

/// A rectangle in pixel coordinates; `w` and `h` are at least 1 where it is used for clipping.
#[derive(Clone, Copy, Debug)]
struct Rect {
    x: i64,
    y: i64,
    w: i64,
    h: i64,
}

impl Rect {
    fn right(&self) -> i64 {
        self.x + self.w - 1
    }
    fn bottom(&self) -> i64 {
        self.y + self.h - 1
    }
}

/// Fill the `w`×`h` rectangle at (`x`, `y`), clipped to the image.
fn fill_rect(img: &mut RgbImage, x: i64, y: i64, w: i64, h: i64, colour: Rgb<u8>) {
    let (iw, ih) = (img.width() as i64, img.height() as i64);
    for py in y.max(0)..(y + h).min(ih) {
        for px in x.max(0)..(x + w).min(iw) {
            img.put_pixel(px as u32, py as u32, colour);
        }
    }
}

/// Fill a rectangle given by two corners (inclusive), clipped to `clip` and the image.
fn fill_clipped(img: &mut RgbImage, clip: Rect, a: (i64, i64), b: (i64, i64), colour: Rgb<u8>) {
    let x0 = a.0.min(b.0).max(clip.x);
    let x1 = a.0.max(b.0).min(clip.right());
    let y0 = a.1.min(b.1).max(clip.y);
    let y1 = a.1.max(b.1).min(clip.bottom());
    if x0 <= x1 && y0 <= y1 {
        fill_rect(img, x0, y0, x1 - x0 + 1, y1 - y0 + 1, colour);
    }
}

/// A 2-pixel-thick line from `a` to `b` (Bresenham with a 2×2 brush), clipped to `clip`.
fn thick_line(img: &mut RgbImage, clip: Rect, a: (i64, i64), b: (i64, i64), colour: Rgb<u8>) {
    let (mut x, mut y) = a;
    let (dx, dy) = ((b.0 - a.0).abs(), -(b.1 - a.1).abs());
    let (sx, sy) = (
        if a.0 < b.0 { 1 } else { -1 },
        if a.1 < b.1 { 1 } else { -1 },
    );
    let mut err = dx + dy;
    loop {
        fill_clipped(img, clip, (x, y), (x + 1, y + 1), colour);
        if (x, y) == b {
            break;
        }
        let e2 = 2 * err;
        if e2 >= dy {
            err += dy;
            x += sx;
        }
        if e2 <= dx {
            err += dx;
            y += sy;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Image grids
// ---------------------------------------------------------------------------------------

/// A grid of grayscale images, for looking at inputs and reconstructions.
///
/// Each slice in `images` is one row-major image of `h*w` values in [0, 1]; values outside
/// are clamped, NaN shows as red (a slice shorter than `h*w` shows its missing pixels as
/// NaN). Images are laid out `cols` per row (fewer columns if there are fewer images), each
/// pixel scaled up `scale`× (nearest neighbour), with 2-pixel dark gray gutters between
/// cells and around the border. An empty list gives a single empty cell.
///
/// The result is `cols*(w*scale + 2) + 2` pixels wide and `rows*(h*scale + 2) + 2` tall.
pub fn image_grid(images: &[&[f32]], h: usize, w: usize, cols: usize, scale: u32) -> RgbImage {
    image_grid_chw(images, 1, h, w, cols, scale)
}

/// Like [`image_grid`], for images with `channels` = 1 (grayscale) or 3 (RGB) planes.
///
/// Each slice holds `channels*h*w` values in planar CHW order (all red values, then all
/// green, then all blue). A pixel with NaN in any channel shows as red. Any other channel
/// count is shown as grayscale from the first plane.
pub fn image_grid_chw(
    images: &[&[f32]],
    channels: usize,
    h: usize,
    w: usize,
    cols: usize,
    scale: u32,
) -> RgbImage {
    let rgb = channels == 3;
    let scale = scale.max(1);
    let cols = cols.clamp(1, images.len().max(1));
    let rows = images.len().div_ceil(cols).max(1);
    let (cell_w, cell_h) = (w as u32 * scale, h as u32 * scale);
    let width = cols as u32 * (cell_w + GUTTER_PX) + GUTTER_PX;
    let height = rows as u32 * (cell_h + GUTTER_PX) + GUTTER_PX;
    let mut img = RgbImage::from_pixel(width, height, GUTTER);

    for (i, data) in images.iter().enumerate() {
        let left = GUTTER_PX + (i % cols) as u32 * (cell_w + GUTTER_PX);
        let top = GUTTER_PX + (i / cols) as u32 * (cell_h + GUTTER_PX);
        for y in 0..h {
            for x in 0..w {
                let colour = pixel_colour(data, rgb, h * w, y * w + x);
                let (px, py) = (left + x as u32 * scale, top + y as u32 * scale);
                for dy in 0..scale {
                    for dx in 0..scale {
                        img.put_pixel(px + dx, py + dy, colour);
                    }
                }
            }
        }
    }
    img
}

/// One planar (CHW) image of `channels` = 1 or 3 planes as an exactly `w` × `h` picture:
/// what a model reconstructed, saved at the input's size.
pub fn image_chw(data: &[f32], channels: usize, h: usize, w: usize) -> RgbImage {
    RgbImage::from_fn(w as u32, h as u32, |x, y| {
        pixel_colour(data, channels == 3, h * w, y as usize * w + x as usize)
    })
}

/// The colour of pixel `i` of a planar image whose planes hold `plane` values each.
fn pixel_colour(data: &[f32], rgb: bool, plane: usize, i: usize) -> Rgb<u8> {
    let value = |channel: usize| data.get(channel * plane + i).copied().unwrap_or(f32::NAN);
    let to_u8 = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    if rgb {
        let (r, g, b) = (value(0), value(1), value(2));
        if r.is_nan() || g.is_nan() || b.is_nan() {
            NAN_RED
        } else {
            Rgb([to_u8(r), to_u8(g), to_u8(b)])
        }
    } else {
        let v = value(0);
        if v.is_nan() {
            NAN_RED
        } else {
            Rgb([to_u8(v); 3])
        }
    }
}

/// Stack pictures vertically, each with an optional text label to its left.
///
/// Typical use: a row "original" above a row "reconstruction". Labels may be empty strings;
/// if all are empty there is no label column. Narrower pictures are padded on the right,
/// and a band is made tall enough for its label. The background is the grids' dark gray.
pub fn labelled_rows(rows: &[(&str, RgbImage)]) -> RgbImage {
    const SCALE: i64 = 2;
    const PAD: i64 = 8;
    let label_w = rows
        .iter()
        .map(|(label, _)| text_width(label, SCALE))
        .max()
        .unwrap_or(0);
    let label_col = if label_w > 0 { label_w + 2 * PAD } else { 0 };
    let band_height = |label: &str, picture: &RgbImage| {
        let text = if label.is_empty() {
            0
        } else {
            text_height(SCALE) + PAD
        };
        (picture.height() as i64).max(text)
    };
    let picture_w = rows
        .iter()
        .map(|(_, p)| p.width() as i64)
        .max()
        .unwrap_or(0);
    let width = label_col + picture_w;
    let height: i64 = rows.iter().map(|(label, p)| band_height(label, p)).sum();
    let mut out = RgbImage::from_pixel(width.max(1) as u32, height.max(1) as u32, GUTTER);

    let mut top = 0;
    for (label, picture) in rows {
        let band = band_height(label, picture);
        let text_y = top + (band - CAP_H * SCALE) / 2;
        draw_text(&mut out, PAD, text_y, label, SCALE, GUTTER_TEXT);
        let picture_y = top + (band - picture.height() as i64) / 2;
        image::imageops::replace(&mut out, picture, label_col, picture_y);
        top += band;
    }
    out
}

// ---------------------------------------------------------------------------------------
// Numbers on axes
// ---------------------------------------------------------------------------------------

/// The exact decimal text of `n × 10^e`, e.g. (25, -3) → "0.025", or in scientific
/// notation ("2.5e-2") when `sci` is set. Building the text from integers avoids the
/// "0.30000000000000004" labels that formatting `3.0 * 0.1` would give.
fn fmt_scaled(n: i64, e: i32, sci: bool) -> String {
    if n == 0 {
        return "0".to_string();
    }
    let (mut n, mut e) = (n, e);
    while n % 10 == 0 {
        n /= 10;
        e += 1;
    }
    let sign = if n < 0 { "-" } else { "" };
    let digits = n.unsigned_abs().to_string();
    if sci {
        let exponent = e + digits.len() as i32 - 1;
        let (head, tail) = digits.split_at(1);
        let dot = if tail.is_empty() { "" } else { "." };
        return format!("{sign}{head}{dot}{tail}e{exponent}");
    }
    if e >= 0 {
        return format!("{sign}{digits}{}", "0".repeat(e as usize));
    }
    let decimals = e.unsigned_abs() as usize;
    if digits.len() > decimals {
        let (int, frac) = digits.split_at(digits.len() - decimals);
        format!("{sign}{int}.{frac}")
    } else {
        format!("{sign}0.{}{digits}", "0".repeat(decimals - digits.len()))
    }
}

/// `v` with about four significant digits, for value labels such as a threshold.
fn fmt_value(v: f64) -> String {
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    let a = v.abs();
    if v == 0.0 || !v.is_finite() {
        format!("{v}")
    } else if (1e-3..1e6).contains(&a) {
        let decimals = (3 - a.log10().floor() as i32).max(0) as usize;
        trim(format!("{v:.decimals$}"))
    } else {
        let s = format!("{v:.3e}");
        match s.split_once('e') {
            Some((mantissa, exponent)) => format!("{}e{exponent}", trim(mantissa.to_string())),
            None => s,
        }
    }
}

/// One plot axis: the value range it spans and its labelled ticks.
#[derive(Clone, Debug)]
struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
    ticks: Vec<(f64, String)>,
}

impl Axis {
    /// A linear axis covering `[min, max]`, widened to "nice" tick values in 1-2-5 steps.
    /// A degenerate range (one value) is widened around it; `integer` keeps steps ≥ 1.
    fn linear(min: f64, max: f64, integer: bool) -> Axis {
        let (mut lo, mut hi) = if min.is_finite() && max.is_finite() && min <= max {
            (min, max)
        } else {
            (0.0, 1.0)
        };
        if hi - lo <= (lo.abs().max(hi.abs())) * 1e-12 {
            let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
            (lo, hi) = (lo - pad, hi + pad);
        }
        if !(hi - lo).is_finite() {
            // Only reachable with values near ±f64::MAX; draw no ticks rather than overflow.
            return Axis {
                lo,
                hi,
                log: false,
                ticks: Vec::new(),
            };
        }
        // Aim for about four intervals: pick the 1-2-5 step nearest to a quarter of the range.
        let rough = (hi - lo) / 4.0;
        let mut exp = rough.log10().floor() as i32;
        let norm = rough / 10f64.powi(exp);
        let mut mant: i64 = match norm {
            n if n < 1.5 => 1,
            n if n < 3.0 => 2,
            n if n < 7.0 => 5,
            _ => 10,
        };
        if mant == 10 {
            (mant, exp) = (1, exp + 1);
        }
        if integer && exp < 0 {
            (mant, exp) = (1, 0);
        }
        let step = mant as f64 * 10f64.powi(exp);
        if !step.is_finite() || step <= 0.0 {
            return Axis {
                lo,
                hi,
                log: false,
                ticks: Vec::new(),
            };
        }
        // Small tolerances so that 0.30000000000000004 counts as the tick 0.3.
        let k0 = (lo / step + 1e-9).floor() as i64;
        let k1 = (hi / step - 1e-9).ceil() as i64;
        let biggest = (k0.unsigned_abs().max(k1.unsigned_abs()) as f64) * step;
        let sci = biggest >= 1e6 || exp < -4;
        let ticks: Vec<(f64, String)> = (k0..=k1)
            .take(4 * MAX_TICKS)
            .filter_map(|k| {
                let n = k.checked_mul(mant)?;
                Some((k as f64 * step, fmt_scaled(n, exp, sci)))
            })
            .collect();
        Axis {
            lo: k0 as f64 * step,
            hi: k1 as f64 * step,
            log: false,
            ticks,
        }
    }

    /// A base-10 logarithmic axis covering the positive range `[min, max]`.
    ///
    /// Ticks come from the finest of these sets that gives at most [`MAX_TICKS`] ticks:
    /// every 1..9 × 10^k, then 1, 2, 5 × 10^k, then powers of ten, then every 2nd, 3rd,
    /// 5th, ... power of ten. The axis ends at the ticks just outside the data.
    fn log10(min: f64, max: f64) -> Axis {
        let (min, max) = if min > 0.0 && max >= min && max.is_finite() {
            (min, max)
        } else {
            (1.0, 10.0)
        };
        let d_lo = min.log10().floor() as i32 - 1;
        let d_hi = max.log10().ceil() as i32 + 1;
        let value = |(m, d): (i64, i32)| m as f64 * 10f64.powi(d);

        let mut sets: Vec<Vec<(i64, i32)>> = Vec::new();
        for mants in [&[1, 2, 3, 4, 5, 6, 7, 8, 9][..], &[1, 2, 5], &[1]] {
            sets.push(
                (d_lo..=d_hi)
                    .flat_map(|d| mants.iter().map(move |&m| (m, d)))
                    .collect(),
            );
        }
        for every in [2, 3, 5, 10, 20, 50, 100, 200] {
            let first = d_lo.div_euclid(every) * every;
            let last = d_hi.div_euclid(every) * every + every;
            sets.push(
                (first..=last)
                    .step_by(every as usize)
                    .map(|d| (1, d))
                    .collect(),
            );
        }

        let mut chosen: &[(i64, i32)] = &[(1, 0), (1, 1)];
        for set in &sets {
            let below = set.iter().rposition(|&t| value(t) <= min * (1.0 + 1e-12));
            let above = set.iter().position(|&t| value(t) >= max * (1.0 - 1e-12));
            let (Some(mut a), Some(mut b)) = (below, above) else {
                continue;
            };
            if a == b {
                // A single value exactly on a tick: show one tick either side.
                if a == 0 || b + 1 >= set.len() {
                    continue;
                }
                (a, b) = (a - 1, b + 1);
            }
            if b - a < MAX_TICKS {
                chosen = &set[a..=b];
                break;
            }
        }
        let (lo, hi) = (value(chosen[0]), value(chosen[chosen.len() - 1]));
        let sci = hi >= 1e6 || lo < 1e-4;
        let ticks = chosen
            .iter()
            .map(|&(m, d)| (value((m, d)), fmt_scaled(m, d, sci)))
            .collect();
        Axis {
            lo,
            hi,
            log: true,
            ticks,
        }
    }

    /// Where `v` lies along the axis: 0 at `lo`, 1 at `hi`.
    fn frac(&self, v: f64) -> f64 {
        if self.log {
            (v.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        }
    }

    /// Whether `v` can be placed on this axis (finite, and positive on a log axis).
    fn accepts(&self, v: f64) -> bool {
        v.is_finite() && (!self.log || v > 0.0)
    }
}

/// The smallest and largest of `values`, or `None` if there are none.
fn min_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

// ---------------------------------------------------------------------------------------
// The chart frame shared by line plots, histograms and scatter plots
// ---------------------------------------------------------------------------------------

/// What a legend entry's colour sample looks like.
#[derive(Clone, Copy)]
enum Swatch {
    Line,
    Square,
}

/// A chart being drawn: background, axes, labels and legend are done; the data goes into
/// `plot`, then [`Chart::finish`] draws the frame on top.
struct Chart {
    img: RgbImage,
    plot: Rect,
    x: Axis,
    y: Axis,
    /// Text scale: 2 on normal-sized charts, 1 on small ones.
    s: i64,
}

/// Labels and legend of a chart, gathered so [`Chart::new`] does not take ten arguments.
struct Labels<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    legend: Vec<(String, Rgb<u8>)>,
    swatch: Swatch,
}

impl Chart {
    /// Lay out and draw everything except the data.
    ///
    /// Layout, top to bottom: title, legend rows (outside the data area, so they never
    /// cover data), the plot area with tick labels left and below, the x-axis label. The
    /// y-axis label runs upwards along the left edge.
    fn new(width: u32, height: u32, labels: &Labels, x: Axis, y: Axis) -> Chart {
        let (width, height) = (width.max(1), height.max(1));
        let (w, h) = (width as i64, height as i64);
        let s = if width >= 480 && height >= 320 { 2 } else { 1 };
        let (line_h, pad, tick_len) = (text_height(s), 4 * s, 3 * s);
        let img = RgbImage::from_pixel(width, height, WHITE);

        let legend_rows = layout_legend(&labels.legend, s, w - 2 * pad);
        let title_h = if labels.title.is_empty() {
            0
        } else {
            line_h + pad
        };
        let legend_h = legend_rows.len() as i64 * (line_h + pad);
        let y_tick_w = y
            .ticks
            .iter()
            .map(|(_, t)| text_width(t, s))
            .max()
            .unwrap_or(0);
        let y_label_w = if labels.y_label.is_empty() {
            0
        } else {
            line_h + pad
        };
        let x_label_h = if labels.x_label.is_empty() {
            0
        } else {
            line_h + pad
        };
        let last_x_w = x.ticks.last().map_or(0, |(_, t)| text_width(t, s));

        let top = pad + title_h + legend_h + pad;
        let left = pad + y_label_w + y_tick_w + pad + tick_len;
        let bottom = tick_len + pad + line_h + x_label_h + pad;
        let right = 2 * pad + last_x_w / 2;
        let plot = Rect {
            x: left,
            y: top,
            w: (w - left - right).max(1),
            h: (h - top - bottom).max(1),
        };

        let mut chart = Chart { img, plot, x, y, s };
        chart.draw_ticks();
        let img = &mut chart.img;

        // Title, centred over the whole picture.
        let title = ellipsize(labels.title, w - 2 * pad, s);
        draw_text(img, (w - text_width(&title, s)) / 2, pad, &title, s, TEXT);

        // Legend rows, centred over the plot area.
        let mut row_y = pad + title_h;
        for row in &legend_rows {
            let row_w: i64 =
                row.iter().map(|e| e.width).sum::<i64>() + legend_gap(s) * (row.len() as i64 - 1);
            let mut ex = (plot.x + (plot.w - row_w) / 2).max(pad);
            for entry in row {
                let mid = row_y + CAP_H * s / 2;
                match (entry.colour, labels.swatch) {
                    (Some(c), Swatch::Line) => fill_rect(img, ex, mid - s, swatch_w(s), 2 * s, c),
                    (Some(c), Swatch::Square) => {
                        let side = CAP_H * s;
                        fill_rect(img, ex + (swatch_w(s) - side) / 2, row_y, side, side, c)
                    }
                    (None, _) => {}
                }
                let text_x = if entry.colour.is_some() {
                    ex + swatch_w(s) + swatch_gap(s)
                } else {
                    ex
                };
                draw_text(img, text_x, row_y, &entry.text, s, TEXT);
                ex += entry.width + legend_gap(s);
            }
            row_y += line_h + pad;
        }

        // Axis labels.
        let x_label = ellipsize(labels.x_label, w - 2 * pad, s);
        let x_label_y = plot.bottom() + 1 + tick_len + pad + line_h + pad;
        let x_label_w = text_width(&x_label, s);
        // min-then-max rather than clamp: on tiny pictures the bounds can cross.
        let x_label_x = (plot.x + (plot.w - x_label_w) / 2)
            .min(w - x_label_w)
            .max(0);
        draw_text(img, x_label_x, x_label_y, &x_label, s, TEXT);
        let y_label = ellipsize(labels.y_label, h - 2 * pad, s);
        let y_label_len = text_width(&y_label, s);
        let y_label_y = (plot.y + (plot.h - y_label_len) / 2)
            .min(h - y_label_len)
            .max(0);
        draw_text_up(img, pad, y_label_y, &y_label, s, TEXT);
        chart
    }

    /// Gridlines, tick marks and tick labels. Labels that would collide with their
    /// neighbour are left out (the gridline stays).
    fn draw_ticks(&mut self) {
        let (s, plot) = (self.s, self.plot);
        let (tick_len, gap) = (3 * s, 4 * s);
        let width = self.img.width() as i64;

        let mut last_end = i64::MIN;
        for (v, label) in self.x.ticks.clone() {
            let px = self.px(v);
            fill_rect(&mut self.img, px, plot.y, 1, plot.h, GRIDLINE);
            fill_rect(&mut self.img, px, plot.bottom() + 1, 1, tick_len, AXIS);
            let lw = text_width(&label, s);
            let lx = (px - lw / 2).min(width - lw).max(0);
            if lx > last_end {
                draw_text(
                    &mut self.img,
                    lx,
                    plot.bottom() + 1 + tick_len + gap / 2,
                    &label,
                    s,
                    TEXT,
                );
                last_end = lx + lw + 2 * ADVANCE * s;
            }
        }

        let mut last_top = i64::MAX;
        for (v, label) in self.y.ticks.clone() {
            let py = self.py(v);
            fill_rect(&mut self.img, plot.x, py, plot.w, 1, GRIDLINE);
            fill_rect(&mut self.img, plot.x - tick_len, py, tick_len, 1, AXIS);
            let ly = py - CAP_H * s / 2;
            if ly + text_height(s) + s < last_top {
                let lx = plot.x - tick_len - gap - text_width(&label, s);
                draw_text(&mut self.img, lx, ly, &label, s, TEXT);
                last_top = ly;
            }
        }
    }

    /// Pixel column of the x value `v`.
    fn px(&self, v: f64) -> i64 {
        let f = self.x.frac(v).clamp(-1.0, 2.0);
        self.plot.x + (f * (self.plot.w - 1) as f64).round() as i64
    }

    /// Pixel row of the y value `v` (larger values higher up).
    fn py(&self, v: f64) -> i64 {
        let f = self.y.frac(v).clamp(-1.0, 2.0);
        self.plot.bottom() - (f * (self.plot.h - 1) as f64).round() as i64
    }

    /// Pixel position of the data point (`x`, `y`), or `None` if it cannot be shown.
    fn point(&self, x: f64, y: f64) -> Option<(i64, i64)> {
        (self.x.accepts(x) && self.y.accepts(y)).then(|| (self.px(x), self.py(y)))
    }

    /// "no data", centred in the plot area.
    fn no_data(&mut self) {
        let (s, plot) = (self.s, self.plot);
        let text = "no data";
        let x = plot.x + (plot.w - text_width(text, s)) / 2;
        let y = plot.y + (plot.h - CAP_H * s) / 2;
        draw_text(&mut self.img, x, y, text, s, MUTED);
    }

    /// Draw the frame around the plot area (over the data's edges) and hand back the image.
    fn finish(mut self) -> RgbImage {
        let p = self.plot;
        fill_rect(&mut self.img, p.x - 1, p.y - 1, p.w + 2, 1, AXIS);
        fill_rect(&mut self.img, p.x - 1, p.bottom() + 1, p.w + 2, 1, AXIS);
        fill_rect(&mut self.img, p.x - 1, p.y - 1, 1, p.h + 2, AXIS);
        fill_rect(&mut self.img, p.right() + 1, p.y - 1, 1, p.h + 2, AXIS);
        self.img
    }
}

/// One placed legend entry: its text, its colour (`None` for the "+N more" note) and width.
struct LegendEntry {
    text: String,
    colour: Option<Rgb<u8>>,
    width: i64,
}

/// Width of a legend swatch.
fn swatch_w(s: i64) -> i64 {
    12 * s
}

/// Space between a legend swatch and its text.
fn swatch_gap(s: i64) -> i64 {
    4 * s
}

/// Space between legend entries.
fn legend_gap(s: i64) -> i64 {
    10 * s
}

/// Break the legend into rows that fit `max_w` pixels; at most [`MAX_LEGEND_ROWS`] rows, the
/// rest summarised as "+N more". Entries with empty names are left out.
fn layout_legend(entries: &[(String, Rgb<u8>)], s: i64, max_w: i64) -> Vec<Vec<LegendEntry>> {
    let named: Vec<&(String, Rgb<u8>)> = entries.iter().filter(|(n, _)| !n.is_empty()).collect();
    let mut rows: Vec<Vec<LegendEntry>> = Vec::new();
    let mut row_w = 0;
    for (i, (name, colour)) in named.iter().enumerate() {
        let text = ellipsize(name, max_w - swatch_w(s) - swatch_gap(s), s);
        let width = swatch_w(s) + swatch_gap(s) + text_width(&text, s);
        let fits = rows
            .last()
            .is_some_and(|_| row_w + legend_gap(s) + width <= max_w);
        if !fits {
            if rows.len() == MAX_LEGEND_ROWS {
                // Out of room: replace entries at the end of the last row with a note.
                let mut left = named.len() - i;
                let last = rows.last_mut().expect("MAX_LEGEND_ROWS > 0");
                loop {
                    let note = format!("+{left} more");
                    let note_w = text_width(&note, s);
                    let used: i64 = last.iter().map(|e| e.width + legend_gap(s)).sum();
                    if used + note_w <= max_w || last.len() <= 1 {
                        last.push(LegendEntry {
                            text: note,
                            colour: None,
                            width: note_w,
                        });
                        break;
                    }
                    last.pop();
                    left += 1;
                }
                break;
            }
            rows.push(Vec::new());
            row_w = -legend_gap(s);
        }
        row_w += legend_gap(s) + width;
        if let Some(row) = rows.last_mut() {
            row.push(LegendEntry {
                text,
                colour: Some(*colour),
                width,
            });
        }
    }
    rows
}

// ---------------------------------------------------------------------------------------
// Plots
// ---------------------------------------------------------------------------------------

/// One named line in a [`line_plot`]: `points` are (x, y) pairs, drawn in the given order.
pub struct Series<'a> {
    /// Shown in the legend; an empty name leaves the series out of the legend.
    pub name: &'a str,
    /// The data, e.g. (step, loss). Non-finite points (and non-positive y on a log axis)
    /// are skipped and break the line there.
    pub points: Vec<(f64, f64)>,
}

/// A line plot of one or more series, e.g. training and validation loss over steps.
///
/// White background, axes with about five "nice" tick values (1-2-5 steps) labelled on
/// both axes, light gridlines, a title, axis labels and a legend above the plot with the
/// series' colours. With `log_y` the y axis is logarithmic. Series with few points also get
/// a marker at every point, so a single point is visible. The picture is `width`×`height`;
/// an empty series list gives axes and "no data".
pub fn line_plot(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    log_y: bool,
    width: u32,
    height: u32,
) -> RgbImage {
    let usable = |&(x, y): &(f64, f64)| x.is_finite() && y.is_finite() && (!log_y || y > 0.0);
    let all = || {
        series
            .iter()
            .flat_map(|s| s.points.iter().copied())
            .filter(usable)
    };
    let xs = min_max(all().map(|p| p.0));
    let ys = min_max(all().map(|p| p.1));
    let x_axis = match xs {
        Some((lo, hi)) => Axis::linear(lo, hi, false),
        None => Axis::linear(0.0, 1.0, false),
    };
    let y_axis = match (ys, log_y) {
        (Some((lo, hi)), true) => Axis::log10(lo, hi),
        (Some((lo, hi)), false) => Axis::linear(lo, hi, false),
        (None, true) => Axis::log10(1.0, 10.0),
        (None, false) => Axis::linear(0.0, 1.0, false),
    };
    let legend = series
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.to_string(), PALETTE[i % PALETTE.len()]))
        .collect();
    let labels = Labels {
        title,
        x_label,
        y_label,
        legend,
        swatch: Swatch::Line,
    };
    let mut chart = Chart::new(width, height, &labels, x_axis, y_axis);

    for (i, s) in series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let pixels: Vec<Option<(i64, i64)>> =
            s.points.iter().map(|&(x, y)| chart.point(x, y)).collect();
        let valid = pixels.iter().flatten().count();
        let clip = chart.plot;
        for (j, p) in pixels.iter().enumerate() {
            let Some(p) = *p else { continue };
            let prev = if j > 0 { pixels[j - 1] } else { None };
            let next = pixels.get(j + 1).copied().flatten();
            match prev {
                Some(q) => thick_line(&mut chart.img, clip, q, p, colour),
                // An isolated point between gaps still shows as a dot.
                None if next.is_none() => thick_line(&mut chart.img, clip, p, p, colour),
                None => {}
            }
            if valid <= MARKERS_UP_TO {
                let r = 2 * chart.s;
                fill_clipped(
                    &mut chart.img,
                    clip,
                    (p.0 - r, p.1 - r),
                    (p.0 + r, p.1 + r),
                    colour,
                );
            }
        }
    }
    if xs.is_none() {
        chart.no_data();
    }
    chart.finish()
}

/// A histogram of `values` in `bins` equal-width bins (at least 1) between their smallest
/// and largest finite value, with counts on the y axis.
///
/// `marker` adds a vertical line at a value, e.g. an anomaly threshold, labelled
/// "label = value" at the top of the plot; the x axis is widened to include it. Non-finite
/// values are ignored; no values at all gives axes and "no data".
pub fn histogram(
    title: &str,
    x_label: &str,
    values: &[f64],
    bins: usize,
    marker: Option<(f64, &str)>,
    width: u32,
    height: u32,
) -> RgbImage {
    histogram_groups(title, x_label, &[("", values)], bins, marker, width, height)
}

/// [`histogram`] of several named groups over shared bins, stacked in palette colours with a
/// legend (e.g. the anomaly scores of normal and anomalous samples). A single group with an
/// empty name draws as [`histogram`] does, without a legend.
pub fn histogram_groups(
    title: &str,
    x_label: &str,
    groups: &[(&str, &[f64])],
    bins: usize,
    marker: Option<(f64, &str)>,
    width: u32,
    height: u32,
) -> RgbImage {
    let marker = marker.filter(|(v, _)| v.is_finite());
    let all = || {
        groups
            .iter()
            .flat_map(|(_, v)| v.iter().copied())
            .filter(|v| v.is_finite())
    };
    let range = min_max(all());
    let plain = groups.len() == 1 && groups[0].0.is_empty();
    let colour = |g: usize| {
        if plain {
            BAR
        } else {
            PALETTE[g % PALETTE.len()]
        }
    };

    // Bin edges: lo + i * bin_w. A single distinct value gets one bin centred on it.
    let (mut lo, mut hi) = range.unwrap_or((0.0, 1.0));
    let mut bins = bins.max(1);
    if hi - lo <= lo.abs().max(hi.abs()) * 1e-12 {
        let pad = if lo == 0.0 { 0.5 } else { lo.abs() * 0.05 };
        (lo, hi, bins) = (lo - pad, hi + pad, 1);
    }
    let bin_w = (hi - lo) / bins as f64;
    // counts[g][i]: values of group g in bin i.
    let counts: Vec<Vec<u64>> = groups
        .iter()
        .map(|(_, values)| {
            let mut c = vec![0u64; bins];
            for &v in values.iter().filter(|v| v.is_finite()) {
                c[(((v - lo) / bin_w).floor().max(0.0) as usize).min(bins - 1)] += 1;
            }
            c
        })
        .collect();
    let totals: Vec<u64> = (0..bins)
        .map(|i| counts.iter().map(|c| c[i]).sum())
        .collect();
    let max_count = totals.iter().copied().max().unwrap_or(0);

    let (x_min, x_max) = match marker {
        Some((m, _)) => (lo.min(m), hi.max(m)),
        None => (lo, hi),
    };
    let x_axis = Axis::linear(x_min, x_max, false);
    // 5% headroom keeps the tallest bar off the frame and leaves room for the marker label.
    let y_axis = Axis::linear(0.0, max_count.max(1) as f64 * 1.05, true);
    let labels = Labels {
        title,
        x_label,
        y_label: "count",
        legend: if plain {
            Vec::new()
        } else {
            groups
                .iter()
                .enumerate()
                .map(|(g, (name, _))| (name.to_string(), colour(g)))
                .collect()
        },
        swatch: Swatch::Square,
    };
    let mut chart = Chart::new(width, height, &labels, x_axis, y_axis);
    let clip = chart.plot;

    for i in (0..bins).filter(|&i| totals[i] > 0) {
        let x0 = chart.px(lo + i as f64 * bin_w);
        let x1 = chart.px(lo + (i + 1) as f64 * bin_w);
        // Leave a 1-pixel gap between bars when they are wide enough to spare it.
        let x1 = if x1 - x0 >= 3 { x1 - 1 } else { x1 };
        // Groups stack bottom up in their order.
        let mut below = 0u64;
        for (g, c) in counts.iter().enumerate().filter(|(_, c)| c[i] > 0) {
            let (bottom, top) = (chart.py(below as f64), chart.py((below + c[i]) as f64));
            fill_clipped(&mut chart.img, clip, (x0, top), (x1, bottom), colour(g));
            below += c[i];
        }
    }

    if let Some((m, label)) = marker {
        let s = chart.s;
        let x = chart.px(m);
        fill_clipped(
            &mut chart.img,
            clip,
            (x, clip.y),
            (x + 1, clip.bottom()),
            MARKER,
        );
        let text = if label.is_empty() {
            fmt_value(m)
        } else {
            format!("{label} = {}", fmt_value(m))
        };
        let text = ellipsize(&text, clip.w - 4 * s, s);
        let tw = text_width(&text, s);
        let tx = if x + 2 + 3 * s + tw <= clip.right() {
            x + 2 + 3 * s
        } else {
            (x - 3 * s - tw).max(clip.x + s)
        };
        let ty = clip.y + 3 * s;
        // A white box behind the text keeps it readable over tall bars.
        fill_clipped(
            &mut chart.img,
            clip,
            (tx - s, ty - s),
            (tx + tw + s, ty + CAP_H * s + s),
            WHITE,
        );
        draw_text(&mut chart.img, tx, ty, &text, s, MARKER);
    }
    if range.is_none() {
        chart.no_data();
    }
    chart.finish()
}

/// A scatter plot of 2-D points, e.g. latent codes, coloured by an optional class label.
///
/// With `labels`, point `i` gets colour `labels[i] % 10` from a 10-colour palette and the
/// legend lists the classes present (points without a label are gray); without, all points
/// share one colour and there is no legend. Non-finite points are skipped; no points gives
/// axes and "no data".
pub fn scatter(
    title: &str,
    points: &[(f64, f64)],
    labels: Option<&[u8]>,
    width: u32,
    height: u32,
) -> RgbImage {
    let finite = |&(x, y): &(f64, f64)| x.is_finite() && y.is_finite();
    let xs = min_max(points.iter().filter(|p| finite(p)).map(|p| p.0));
    let ys = min_max(points.iter().filter(|p| finite(p)).map(|p| p.1));
    let axis = |r: Option<(f64, f64)>| {
        let (lo, hi) = r.unwrap_or((0.0, 1.0));
        Axis::linear(lo, hi, false)
    };
    let colour_of = |i: usize| match labels {
        None => PALETTE[0],
        Some(l) => l
            .get(i)
            .map_or(MUTED, |&c| PALETTE[c as usize % PALETTE.len()]),
    };

    let mut legend = Vec::new();
    if let Some(l) = labels {
        let mut present = [false; 256];
        for (i, p) in points.iter().enumerate() {
            if let (Some(&c), true) = (l.get(i), finite(p)) {
                present[c as usize] = true;
            }
        }
        for (c, _) in present.iter().enumerate().filter(|(_, &p)| p) {
            legend.push((c.to_string(), PALETTE[c % PALETTE.len()]));
        }
    }
    let chart_labels = Labels {
        title,
        x_label: "",
        y_label: "",
        legend,
        swatch: Swatch::Square,
    };
    let mut chart = Chart::new(width, height, &chart_labels, axis(xs), axis(ys));
    let clip = chart.plot;

    // Small dots when there are many points, so clusters stay visible.
    let finite_count = points.iter().filter(|p| finite(p)).count();
    let r = if finite_count <= 2000 { 2 } else { 1 };
    for (i, &(x, y)) in points.iter().enumerate() {
        if let Some((px, py)) = chart.point(x, y) {
            fill_clipped(
                &mut chart.img,
                clip,
                (px - r, py - r),
                (px + r, py + r),
                colour_of(i),
            );
        }
    }
    if xs.is_none() {
        chart.no_data();
    }
    chart.finish()
}

/// Encode `img` as PNG and write it to `path` atomically (see [`crate::fsio::write_atomic`]).
pub fn save_png(img: &RgbImage, path: &Path) -> anyhow::Result<()> {
    let mut bytes = Vec::new();
    img.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .with_context(|| {
            format!(
                "encoding {}x{} PNG for {}",
                img.width(),
                img.height(),
                path.display()
            )
        })?;
    // The io::Error already names the path.
    crate::fsio::write_atomic(path, &bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(img: &RgbImage, colour: Rgb<u8>) -> usize {
        img.pixels().filter(|p| **p == colour).count()
    }

    fn ramp(n: usize) -> Vec<f32> {
        (0..n).map(|i| i as f32 / n as f32).collect()
    }

    #[test]
    fn image_grid_has_the_expected_size() {
        let data = ramp(28 * 28);
        let images: Vec<&[f32]> = vec![&data; 16];
        let grid = image_grid(&images, 28, 28, 8, 2);
        assert_eq!(grid.dimensions(), (8 * (56 + 2) + 2, 2 * (56 + 2) + 2));
    }

    #[test]
    fn image_grid_with_fewer_images_than_columns_uses_fewer_columns() {
        let data = ramp(4 * 3);
        let grid = image_grid(&[&data, &data], 4, 3, 10, 1);
        assert_eq!(grid.dimensions(), (2 * (3 + 2) + 2, 4 + 2 + 2));
    }

    #[test]
    fn image_grid_of_no_images_is_one_empty_cell() {
        let grid = image_grid(&[], 5, 5, 0, 0);
        assert_eq!(grid.dimensions(), (5 + 4, 5 + 4));
        assert_eq!(count(&grid, GUTTER), 81);
    }

    #[test]
    fn image_grid_clamps_values_and_shows_nan_as_red() {
        let data = [-1.0, 0.5, 2.0, f32::NAN];
        let grid = image_grid(&[&data], 1, 4, 1, 1);
        assert_eq!(grid.dimensions(), (4 + 4, 1 + 4));
        let row: Vec<Rgb<u8>> = (2..6).map(|x| *grid.get_pixel(x, 2)).collect();
        assert_eq!(
            row,
            vec![Rgb([0; 3]), Rgb([128; 3]), Rgb([255; 3]), NAN_RED]
        );
    }

    #[test]
    fn image_grid_shows_missing_pixels_of_a_short_slice_as_nan() {
        let grid = image_grid(&[&[0.0]], 2, 2, 1, 1);
        assert_eq!(count(&grid, NAN_RED), 3);
    }

    #[test]
    fn image_grid_scales_each_pixel_to_a_square_block() {
        let data = [0.0, 1.0];
        let grid = image_grid(&[&data], 1, 2, 1, 3);
        assert_eq!(grid.dimensions(), (6 + 4, 3 + 4));
        assert_eq!(count(&grid, Rgb([255; 3])), 9);
        assert_eq!(count(&grid, Rgb([0; 3])), 9);
    }

    #[test]
    fn image_chw_is_exactly_the_image_size_and_reads_planar_rgb() {
        let data = [1.0, 0.0, 0.0, 0.5, 0.0, 1.0];
        let img = image_chw(&data, 3, 1, 2);
        assert_eq!(img.dimensions(), (2, 1));
        assert_eq!(img.get_pixel(0, 0), &Rgb([255, 0, 0]));
        assert_eq!(img.get_pixel(1, 0), &Rgb([0, 128, 255]));
    }

    #[test]
    fn image_grid_chw_reads_planar_rgb() {
        // One 1×2 image: red plane, then green plane, then blue plane.
        let data = [1.0, 0.0, 0.0, 1.0, 0.0, 0.5];
        let grid = image_grid_chw(&[&data], 3, 1, 2, 1, 1);
        assert_eq!(*grid.get_pixel(2, 2), Rgb([255, 0, 0]));
        assert_eq!(*grid.get_pixel(3, 2), Rgb([0, 255, 128]));
    }

    #[test]
    fn image_grid_chw_with_one_channel_matches_image_grid() {
        let data = ramp(6 * 5);
        let a = image_grid_chw(&[&data, &data, &data], 1, 6, 5, 2, 2);
        let b = image_grid(&[&data, &data, &data], 6, 5, 2, 2);
        assert_eq!(a, b);
    }

    #[test]
    fn labelled_rows_stacks_bands_under_each_other_with_a_label_column() {
        let a = RgbImage::from_pixel(100, 40, WHITE);
        let b = RgbImage::from_pixel(60, 30, WHITE);
        let out = labelled_rows(&[("original", a), ("recon", b)]);
        let label_col = text_width("original", 2) + 16;
        assert_eq!(out.dimensions(), (label_col as u32 + 100, 70));
    }

    #[test]
    fn labelled_rows_without_labels_has_no_label_column() {
        let a = RgbImage::from_pixel(10, 4, WHITE);
        let out = labelled_rows(&[("", a.clone()), ("", a)]);
        assert_eq!(out.dimensions(), (10, 8));
    }

    #[test]
    fn labelled_rows_makes_a_band_tall_enough_for_its_label() {
        let thin = RgbImage::from_pixel(10, 2, WHITE);
        let out = labelled_rows(&[("x", thin)]);
        assert!(out.height() as i64 >= text_height(2));
    }

    #[test]
    fn labelled_rows_of_nothing_is_a_single_pixel() {
        assert_eq!(labelled_rows(&[]).dimensions(), (1, 1));
    }

    fn loss_series() -> Vec<Series<'static>> {
        let train = (0..200)
            .map(|i| (i as f64, 1.0 / (1.0 + i as f64)))
            .collect();
        let val = (0..20)
            .map(|i| (10.0 * i as f64, 1.2 / (1.0 + 10.0 * i as f64)))
            .collect();
        vec![
            Series {
                name: "train",
                points: train,
            },
            Series {
                name: "val",
                points: val,
            },
        ]
    }

    #[test]
    fn line_plot_has_the_requested_size() {
        for (w, h) in [(800, 500), (400, 250), (123, 77)] {
            let img = line_plot("loss", "step", "mse", &loss_series(), false, w, h);
            assert_eq!(img.dimensions(), (w, h));
            assert!(count(&img, PALETTE[0]) > 0 && count(&img, PALETTE[1]) > 0);
        }
    }

    #[test]
    fn line_plot_with_one_point_shows_a_marker() {
        let one = [Series {
            name: "only",
            points: vec![(3.0, 0.25)],
        }];
        let img = line_plot("one", "x", "y", &one, false, 800, 500);
        assert_eq!(img.dimensions(), (800, 500));
        // The legend swatch plus a 9×9 marker (text scale 2, radius 4).
        assert!(count(&img, PALETTE[0]) >= 81);
    }

    #[test]
    fn line_plot_skips_nan_and_infinite_points() {
        let points = vec![
            (0.0, 1.0),
            (1.0, f64::NAN),
            (f64::INFINITY, 2.0),
            (3.0, 2.0),
            (4.0, 0.5),
        ];
        let with_nan = [Series { name: "s", points }];
        let img = line_plot("nan", "x", "y", &with_nan, false, 800, 500);
        assert_eq!(img.dimensions(), (800, 500));
        assert!(count(&img, PALETTE[0]) > 100);
        assert_eq!(
            count(&img, MUTED),
            0,
            "finite points remain, so no \"no data\""
        );
    }

    #[test]
    fn line_plot_with_log_y_has_the_requested_size_and_skips_non_positive_values() {
        let mut series = loss_series();
        series[0].points.push((300.0, 0.0));
        series[0].points.push((301.0, -1.0));
        let img = line_plot("loss", "step", "mse", &series, true, 640, 480);
        assert_eq!(img.dimensions(), (640, 480));
        assert!(count(&img, PALETTE[0]) > 0);
    }

    #[test]
    fn line_plot_with_only_non_positive_values_on_log_y_says_no_data() {
        let s = [Series {
            name: "zero",
            points: vec![(0.0, 0.0), (1.0, -2.0)],
        }];
        let img = line_plot("log", "x", "y", &s, true, 800, 500);
        assert!(count(&img, MUTED) > 0);
    }

    #[test]
    fn line_plot_without_series_draws_axes_and_says_no_data() {
        let img = line_plot("empty", "x", "y", &[], false, 800, 500);
        assert_eq!(img.dimensions(), (800, 500));
        assert!(count(&img, MUTED) > 0, "\"no data\" is written");
        assert!(count(&img, AXIS) > 0, "axes are drawn");
    }

    #[test]
    fn line_plot_with_thousands_of_points_has_the_requested_size() {
        let points = (0..20_000)
            .map(|i| (i as f64, (i as f64 * 0.01).sin()))
            .collect();
        let img = line_plot(
            "big",
            "x",
            "y",
            &[Series {
                name: "sin",
                points,
            }],
            false,
            800,
            500,
        );
        assert_eq!(img.dimensions(), (800, 500));
    }

    #[test]
    fn plots_of_tiny_or_zero_sizes_do_not_panic() {
        for (w, h) in [(0, 0), (1, 1), (5, 3), (30, 20)] {
            let img = line_plot("a long title", "x", "y", &loss_series(), true, w, h);
            assert_eq!(img.dimensions(), (w.max(1), h.max(1)));
            let img = histogram("t", "x", &[1.0, 2.0], 3, Some((1.5, "m")), w, h);
            assert_eq!(img.dimensions(), (w.max(1), h.max(1)));
            let img = scatter("t", &[(0.0, 0.0)], Some(&[3]), w, h);
            assert_eq!(img.dimensions(), (w.max(1), h.max(1)));
        }
    }

    #[test]
    fn extreme_values_do_not_panic() {
        let points = vec![
            (-f64::MAX, f64::MIN_POSITIVE),
            (f64::MAX, f64::MAX),
            (0.0, 5e-324),
        ];
        for log_y in [false, true] {
            let s = [Series {
                name: "extreme",
                points: points.clone(),
            }];
            assert_eq!(
                line_plot("x", "x", "y", &s, log_y, 300, 200).dimensions(),
                (300, 200)
            );
        }
        let values = [-f64::MAX, f64::MAX, 0.0];
        assert_eq!(
            histogram("h", "x", &values, 5, Some((1.0, "m")), 300, 200).dimensions(),
            (300, 200)
        );
        assert_eq!(
            scatter("s", &points, Some(&[200, 9, 0]), 300, 200).dimensions(),
            (300, 200)
        );
    }

    #[test]
    fn histogram_has_the_requested_size_and_draws_bars_and_the_marker() {
        let values: Vec<f64> = (0..1000).map(|i| ((i * 37) % 101) as f64 / 100.0).collect();
        let img = histogram(
            "errors",
            "mse",
            &values,
            20,
            Some((0.9, "threshold")),
            800,
            500,
        );
        assert_eq!(img.dimensions(), (800, 500));
        assert!(count(&img, BAR) > 1000);
        assert!(
            count(&img, MARKER) > 400,
            "the marker line spans the plot height"
        );
    }

    #[test]
    fn grouped_histogram_stacks_each_group_in_its_colour_with_a_legend() {
        let a = [1.0, 1.1, 1.2, 5.0];
        let b = [4.8, 4.9, 5.0, 5.1, 5.2, 5.3];
        let img = histogram_groups(
            "scores",
            "score",
            &[("normal", &a), ("anomalous", &b)],
            10,
            Some((3.0, "threshold")),
            400,
            300,
        );
        assert_eq!(img.dimensions(), (400, 300));
        assert!(count(&img, PALETTE[0]) > 0 && count(&img, PALETTE[1]) > 0);
        assert!(count(&img, MARKER) > 0);
        // The single unnamed group is the plain histogram.
        let plain = histogram_groups("h", "x", &[("", &a)], 10, None, 400, 300);
        assert_eq!(plain, histogram("h", "x", &a, 10, None, 400, 300));
        assert_eq!(count(&plain, PALETTE[1]), 0);
    }

    #[test]
    fn histogram_of_nothing_or_of_nan_says_no_data() {
        for values in [&[][..], &[f64::NAN, f64::INFINITY][..]] {
            let img = histogram("empty", "x", values, 10, None, 400, 300);
            assert_eq!(img.dimensions(), (400, 300));
            assert!(count(&img, MUTED) > 0);
            assert_eq!(count(&img, BAR), 0);
        }
    }

    #[test]
    fn histogram_of_one_repeated_value_draws_one_bar() {
        let img = histogram("const", "x", &[2.0; 10], 10, None, 800, 500);
        assert!(count(&img, BAR) > 0);
        assert_eq!(count(&img, MUTED), 0);
    }

    #[test]
    fn scatter_has_the_requested_size_and_colours_points_by_label() {
        let points: Vec<(f64, f64)> = (0..100).map(|i| (i as f64, (i * i % 17) as f64)).collect();
        let labels: Vec<u8> = (0..100).map(|i| (i % 3) as u8).collect();
        let img = scatter("latent", &points, Some(&labels), 600, 600);
        assert_eq!(img.dimensions(), (600, 600));
        for colour in &PALETTE[..3] {
            assert!(count(&img, *colour) > 0);
        }
        assert_eq!(count(&img, PALETTE[3]), 0);
    }

    #[test]
    fn scatter_without_points_says_no_data() {
        let img = scatter("nothing", &[(f64::NAN, 1.0)], None, 400, 300);
        assert_eq!(img.dimensions(), (400, 300));
        assert!(count(&img, MUTED) > 0);
    }

    #[test]
    fn linear_axis_ticks_are_nice_and_exactly_labelled() {
        let axis = Axis::linear(0.0, 1.0, false);
        let labels: Vec<&str> = axis.ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["0", "0.2", "0.4", "0.6", "0.8", "1"]);
        let axis = Axis::linear(0.1, 0.7, false);
        let labels: Vec<&str> = axis.ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7"]);
        let axis = Axis::linear(-3.0, 2500.0, false);
        assert_eq!(axis.ticks.first().map(|t| t.1.as_str()), Some("-500"));
        assert_eq!(axis.ticks.last().map(|t| t.1.as_str()), Some("2500"));
    }

    #[test]
    fn linear_axis_around_a_single_value_has_several_ticks() {
        for v in [0.0, 0.25, -7.0, 1e9] {
            let axis = Axis::linear(v, v, false);
            assert!(axis.lo < v && v < axis.hi, "{v}: {axis:?}");
            assert!((3..=MAX_TICKS).contains(&axis.ticks.len()), "{v}: {axis:?}");
        }
    }

    #[test]
    fn integer_axis_steps_by_at_least_one() {
        let axis = Axis::linear(0.0, 1.0, true);
        let labels: Vec<&str> = axis.ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["0", "1"]);
    }

    #[test]
    fn tiny_and_huge_ticks_use_scientific_notation() {
        let tiny = Axis::linear(0.0, 4e-5, false);
        assert!(tiny.ticks.iter().any(|(_, l)| l == "1e-5"), "{tiny:?}");
        let huge = Axis::linear(0.0, 5e7, false);
        assert!(huge.ticks.iter().any(|(_, l)| l == "1e7"), "{huge:?}");
    }

    #[test]
    fn log_axis_ticks_pick_the_finest_readable_set() {
        let labels = |a: Axis| a.ticks.into_iter().map(|(_, l)| l).collect::<Vec<_>>();
        assert_eq!(
            labels(Axis::log10(0.0021, 0.9)),
            ["0.001", "0.01", "0.1", "1"]
        );
        assert_eq!(
            labels(Axis::log10(0.021, 0.048)),
            ["0.02", "0.03", "0.04", "0.05"]
        );
        assert_eq!(labels(Axis::log10(0.1, 0.1)), ["0.09", "0.1", "0.2"]);
        let wide = Axis::log10(1e-8, 1e2);
        assert!(
            wide.ticks.len() <= MAX_TICKS && wide.lo <= 1e-8 && wide.hi >= 1e2,
            "{wide:?}"
        );
    }

    #[test]
    fn fmt_scaled_writes_exact_decimals() {
        assert_eq!(fmt_scaled(3, -1, false), "0.3");
        assert_eq!(fmt_scaled(25, -4, false), "0.0025");
        assert_eq!(fmt_scaled(-15, 0, false), "-15");
        assert_eq!(fmt_scaled(20, 2, false), "2000");
        assert_eq!(fmt_scaled(25, -7, true), "2.5e-6");
        assert_eq!(fmt_scaled(0, 5, true), "0");
    }

    #[test]
    fn fmt_value_keeps_about_four_significant_digits() {
        assert_eq!(fmt_value(0.045), "0.045");
        assert_eq!(fmt_value(123.456), "123.5");
        assert_eq!(fmt_value(2.0), "2");
        assert_eq!(fmt_value(1.23456e-7), "1.235e-7");
    }

    #[test]
    fn text_is_drawn_within_its_measured_box() {
        let text = "Loss 0.5e-3 (val) ~!";
        let (w, h) = (text_width(text, 2), text_height(2));
        let mut img = RgbImage::from_pixel(w as u32 + 4, h as u32 + 4, WHITE);
        draw_text(&mut img, 2, 2, text, 2, TEXT);
        for (x, y, p) in img.enumerate_pixels() {
            if *p == TEXT {
                assert!((2..2 + w).contains(&(x as i64)) && (2..2 + h).contains(&(y as i64)));
            }
        }
        assert!(count(&img, TEXT) > 0);
        // Rotated text: the same number of pixels, in a box turned on its side.
        let mut up = RgbImage::from_pixel(h as u32, w as u32, WHITE);
        draw_text_up(&mut up, 0, 0, text, 2, TEXT);
        assert_eq!(count(&up, TEXT), count(&img, TEXT));
    }

    #[test]
    fn every_printable_ascii_character_but_space_has_pixels() {
        for c in '!'..='~' {
            assert!(glyph(c).iter().any(|&row| row != 0), "{c:?} is blank");
            assert!(
                glyph(c).iter().all(|&row| row < 0x20),
                "{c:?} is wider than 5 pixels"
            );
        }
        assert_eq!(glyph('é'), glyph('?'));
    }

    #[test]
    fn ellipsize_shortens_long_text_to_fit() {
        let short = ellipsize("a very long title indeed", 100, 1);
        assert!(
            short.ends_with("...") && text_width(&short, 1) <= 100,
            "{short}"
        );
        assert_eq!(ellipsize("short", 100, 1), "short");
    }

    #[test]
    fn encoded_png_decodes_back_to_the_same_size() {
        let dir = std::env::temp_dir().join(format!("viz-png-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        let path = dir.join("plot.png");
        let img = line_plot("loss", "step", "mse", &loss_series(), true, 320, 200);
        save_png(&img, &path).expect("save");
        let bytes = std::fs::read(&path).expect("read back");
        let decoded = image::load_from_memory(&bytes).expect("decode").to_rgb8();
        assert_eq!(decoded.dimensions(), (320, 200));
        assert_eq!(decoded, img);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn save_png_errors_name_the_path() {
        let path = std::env::temp_dir()
            .join("viz-no-such-dir-xyz")
            .join("out.png");
        let err = save_png(&RgbImage::new(2, 2), &path).expect_err("directory is missing");
        assert!(format!("{err:#}").contains("out.png"), "{err:#}");
    }
}
