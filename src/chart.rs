//! PNG charts for usage reports, drawn with plotters. No Discord and no store here: data in,
//! PNG bytes out. Text uses the embedded DejaVu Sans (see `assets/DejaVuSans.LICENSE`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::FontStyle;

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
static REGISTER_FONT: Once = Once::new();
static NEXT_FILE: AtomicU64 = AtomicU64::new(0);

/// Why a chart could not be drawn (for the log; users get the report without it).
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the chart: {0}")]
pub struct ChartError(String);

fn register_font() {
    REGISTER_FONT.call_once(|| {
        if plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_err() {
            tracing::warn!("the embedded font is invalid; charts will fail");
        }
    });
}

/// A bar chart of clips per day; `days` are `(YYYY-MM-DD, clips)`, oldest first.
///
/// plotters' bitmap backend encodes PNG only into a file, so the chart goes through a
/// uniquely named file in the temp folder that is removed afterwards.
pub fn videos_per_day(days: &[(String, u64)]) -> Result<Vec<u8>, ChartError> {
    register_font();
    let path = std::env::temp_dir().join(format!(
        "omni-bot-chart-{}-{}.png",
        std::process::id(),
        NEXT_FILE.fetch_add(1, Ordering::Relaxed)
    ));
    let drawn = draw(&path, days);
    let bytes = drawn.and_then(|()| std::fs::read(&path).map_err(|e| ChartError(e.to_string())));
    let _ = std::fs::remove_file(&path);
    bytes
}

fn draw(path: &std::path::Path, days: &[(String, u64)]) -> Result<(), ChartError> {
    let err = |e: &dyn std::fmt::Display| ChartError(e.to_string());
    let root = BitMapBackend::new(path, (800, 400)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let n = days.len().max(1) as u32;
    let top = days.iter().map(|d| d.1).max().unwrap_or(0).max(1);
    let mut chart = ChartBuilder::on(&root)
        .caption("Clips per day", ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(36)
        .y_label_area_size(44)
        .build_cartesian_2d((0u32..n).into_segmented(), 0u64..top + top / 10 + 1)
        .map_err(|e| err(&e))?;
    let label = |v: &SegmentValue<u32>| match v {
        // `MM-DD` keeps 30 labels readable.
        SegmentValue::CenterOf(i) => days
            .get(*i as usize)
            .map(|d| d.0.get(5..).unwrap_or(&d.0).to_owned())
            .unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(days.len().clamp(1, 15))
        .x_label_formatter(&label)
        .y_desc("clips")
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|e| err(&e))?;
    chart
        .draw_series(
            Histogram::vertical(&chart)
                .style(RGBColor(88, 101, 242).filled())
                .margin(4)
                .data(days.iter().enumerate().map(|(i, d)| (i as u32, d.1))),
        )
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usage_chart_is_a_png() {
        let days: Vec<(String, u64)> = (1..=7)
            .map(|d| (format!("2025-03-{d:02}"), d % 3))
            .collect();
        let png = videos_per_day(&days).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert!(png.len() > 1000);
        assert!(videos_per_day(&[]).is_ok(), "an empty period still draws");
    }
}
