//! The report's SVG plots, drawn with `plotters`' SVG backend into strings
//! (text is emitted as SVG `<text>`, so no font library is needed). Each
//! function returns `Ok(None)` when its section has nothing to draw.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::results::{DrivesRow, KmsRow, ObjectsRow};

pub type PlotResult = Result<Option<String>, Box<dyn std::error::Error>>;

const SIZE: (u32, u32) = (800, 480);
const MEASURED: RGBColor = RGBColor(31, 119, 180);
const SECOND: RGBColor = RGBColor(214, 39, 40);
const REFERENCE: RGBColor = RGBColor(110, 110, 110);
const MET: RGBColor = RGBColor(44, 160, 44);
const MISSED: RGBColor = RGBColor(214, 39, 40);

/// One bar of the ratios chart.
pub struct RatioBar {
    pub name: String,
    pub ratio: f64,
    pub target: Option<f64>,
}

/// An axis label for a count: `10k`, `1.5M`.
fn compact(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{}k", (v / 1e3 * 10.0).round() / 10.0)
    } else {
        format!("{v:.0}")
    }
}

/// `[lo, hi]` padded for a linear axis starting at zero.
fn upper(values: impl Iterator<Item = f64>) -> f64 {
    let m = values.filter(|v| v.is_finite()).fold(0.0f64, f64::max);
    if m > 0.0 {
        m * 1.15
    } else {
        1.0
    }
}

/// A padded range for a logarithmic axis over positive values.
fn log_range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = values
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    (hi > 0.0).then_some((lo / 1.5, hi * 1.5))
}

fn draw<F>(f: F) -> PlotResult
where
    F: FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), Box<dyn std::error::Error>>,
{
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        f(&root)?;
        root.present()?;
    }
    Ok(Some(svg))
}

fn legend_line(color: RGBColor) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
}

/// Run throughput (left axis) and peak RSS (right axis) against the object
/// count, on a logarithmic count axis.
pub fn objects(rows: &[ObjectsRow]) -> PlotResult {
    let Some((x0, x1)) = log_range(rows.iter().map(|r| r.objects as f64)) else {
        return Ok(None);
    };
    let mut rows: Vec<&ObjectsRow> = rows.iter().collect();
    rows.sort_by_key(|r| r.objects);
    let tput: Vec<(f64, f64)> = rows
        .iter()
        .map(|r| (r.objects as f64, r.objects_per_s))
        .collect();
    let rss: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|r| Some((r.objects as f64, r.peak_rss_mib?)))
        .collect();
    draw(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption("run throughput and peak RSS vs objects", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .right_y_label_area_size(70)
            .build_cartesian_2d((x0..x1).log_scale(), 0.0..upper(tput.iter().map(|p| p.1)))?
            .set_secondary_coord((x0..x1).log_scale(), 0.0..upper(rss.iter().map(|p| p.1)));
        chart
            .configure_mesh()
            .x_desc("objects")
            .y_desc("objects/s")
            .max_light_lines(1)
            .x_labels(6)
            .x_label_formatter(&|x| compact(*x))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()?;
        chart
            .configure_secondary_axes()
            .y_desc("peak RSS (MiB)")
            .draw()?;
        chart
            .draw_series(LineSeries::new(tput.clone(), MEASURED.stroke_width(2)))?
            .label("objects/s")
            .legend(legend_line(MEASURED));
        // Each measured point carries its object count: a log axis labels
        // only decades.
        chart.draw_series(tput.iter().map(|&p| {
            EmptyElement::at(p)
                + Circle::new((0, 0), 4, MEASURED.filled())
                + Text::new(compact(p.0), (6, -16), ("sans-serif", 12))
        }))?;
        if !rss.is_empty() {
            chart
                .draw_secondary_series(LineSeries::new(rss.clone(), SECOND.stroke_width(2)))?
                .label("peak RSS (MiB)")
                .legend(legend_line(SECOND));
            chart.draw_secondary_series(rss.iter().map(|&p| Circle::new(p, 4, SECOND.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

/// Run throughput and its floor against the drive count.
pub fn drives(rows: &[DrivesRow]) -> PlotResult {
    if rows.is_empty() {
        return Ok(None);
    }
    let mut rows: Vec<&DrivesRow> = rows.iter().collect();
    rows.sort_by_key(|r| r.drives);
    let x1 = rows.iter().map(|r| r.drives).max().unwrap_or(1) + 1;
    let tput: Vec<(f64, f64)> = rows
        .iter()
        .map(|r| (f64::from(r.drives), r.objects_per_s))
        .collect();
    let floor: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|r| Some((f64::from(r.drives), r.floor_objects_per_s?)))
        .collect();
    let ymax = upper(tput.iter().chain(&floor).map(|p| p.1));
    draw(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption("run throughput vs drives", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..f64::from(x1), 0.0..ymax)?;
        chart
            .configure_mesh()
            .x_desc("drives")
            .y_desc("objects/s")
            .max_light_lines(1)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()?;
        chart
            .draw_series(LineSeries::new(tput.clone(), MEASURED.stroke_width(2)))?
            .label("keyrotate run")
            .legend(legend_line(MEASURED));
        chart.draw_series(tput.iter().map(|&p| Circle::new(p, 4, MEASURED.filled())))?;
        if !floor.is_empty() {
            chart
                .draw_series(LineSeries::new(floor.clone(), REFERENCE.stroke_width(2)))?
                .label("floor (temp+fsync+rename)")
                .legend(legend_line(REFERENCE));
            chart.draw_series(floor.iter().map(|&p| Circle::new(p, 4, REFERENCE.filled())))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

/// KMS requests/s against latency, one measured and one ideal line per
/// concurrency, both axes logarithmic (the ideal `c / 2L` is then straight).
pub fn kms(rows: &[KmsRow]) -> PlotResult {
    let Some((x0, x1)) = log_range(rows.iter().map(|r| r.latency_ms)) else {
        return Ok(None);
    };
    let Some((y0, y1)) = log_range(
        rows.iter()
            .flat_map(|r| [Some(r.requests_per_s), r.ideal_per_s])
            .flatten(),
    ) else {
        return Ok(None);
    };
    let mut concurrencies: Vec<u32> = rows.iter().map(|r| r.concurrency).collect();
    concurrencies.sort_unstable();
    concurrencies.dedup();
    draw(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption("KMS-bound throughput vs KMS latency", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("KMS latency (ms)")
            .y_desc("KMS requests/s")
            .max_light_lines(1)
            .x_labels(12)
            .x_label_formatter(&|x| format!("{x}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()?;
        for (i, c) in concurrencies.iter().enumerate() {
            let mut mine: Vec<&KmsRow> = rows.iter().filter(|r| r.concurrency == *c).collect();
            mine.sort_by(|a, b| a.latency_ms.total_cmp(&b.latency_ms));
            let measured: Vec<(f64, f64)> = mine
                .iter()
                .map(|r| (r.latency_ms, r.requests_per_s))
                .collect();
            let ideal: Vec<(f64, f64)> = mine
                .iter()
                .filter_map(|r| Some((r.latency_ms, r.ideal_per_s?)))
                .collect();
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(measured.clone(), color.stroke_width(2)))?
                .label(format!("measured, concurrency {c}"))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            // Each measured point carries its latency and ratio to the ideal.
            chart.draw_series(mine.iter().map(|r| {
                let label = match r.ideal_per_s.filter(|i| *i > 0.0) {
                    Some(i) => format!("{} ms: {:.2}×", r.latency_ms, r.requests_per_s / i),
                    None => format!("{} ms", r.latency_ms),
                };
                EmptyElement::at((r.latency_ms, r.requests_per_s))
                    + Circle::new((0, 0), 4, color.filled())
                    + Text::new(label, (-10, 10), ("sans-serif", 12))
            }))?;
            if !ideal.is_empty() {
                chart
                    .draw_series(DashedLineSeries::new(
                        ideal,
                        6,
                        4,
                        color.mix(0.6).stroke_width(1),
                    ))?
                    .label(format!("ideal c/(2·latency), concurrency {c}"))
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.mix(0.6))
                    });
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

/// Each scenario's ratio to its floor as a bar, green when it meets its
/// target, red when not, grey without one; a black tick marks the target.
pub fn ratios(bars: &[RatioBar]) -> PlotResult {
    if bars.is_empty() {
        return Ok(None);
    }
    let n = bars.len();
    let ymax = upper(
        bars.iter()
            .flat_map(|b| [Some(b.ratio), b.target])
            .flatten(),
    )
    .max(1.2);
    draw(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption("ratio to the floor, per scenario", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(50)
            .y_label_area_size(60)
            // A segmented `0..k` has k + 1 slots: one per bar.
            .build_cartesian_2d((0..n - 1).into_segmented(), 0.0..ymax)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .max_light_lines(1)
            .y_desc("value / floor")
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                    bars.get(*i).map(|b| b.name.clone()).unwrap_or_default()
                }
                SegmentValue::Last => String::new(),
            })
            .draw()?;
        chart.draw_series(bars.iter().enumerate().map(|(i, b)| {
            let color = match b.target {
                Some(t) if b.ratio >= t => MET,
                Some(_) => MISSED,
                None => REFERENCE,
            };
            let mut r = Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0.0),
                    (SegmentValue::Exact(i + 1), b.ratio),
                ],
                color.filled(),
            );
            r.set_margin(0, 0, 12, 12);
            r
        }))?;
        chart.draw_series(bars.iter().enumerate().filter_map(|(i, b)| {
            let t = b.target?;
            Some(PathElement::new(
                vec![(SegmentValue::Exact(i), t), (SegmentValue::Exact(i + 1), t)],
                BLACK.stroke_width(3),
            ))
        }))?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A single point or bar is still a valid plot (degenerate ranges).
    #[test]
    fn single_points_draw() {
        let one = RatioBar {
            name: "rotate".into(),
            ratio: 0.9,
            target: Some(0.8),
        };
        let svg = ratios(&[one]).unwrap().unwrap();
        assert!(svg.contains("rotate") && svg.contains("#2CA02C"));
        let o = ObjectsRow {
            objects: 10_000,
            run_s: 1.0,
            objects_per_s: 10_000.0,
            peak_rss_mib: None,
            plan_s: None,
        };
        assert!(objects(&[o]).unwrap().unwrap().contains("10k"));
        let d = DrivesRow {
            drives: 4,
            objects: 10,
            run_s: 1.0,
            objects_per_s: 10.0,
            floor_objects_per_s: None,
        };
        assert!(drives(&[d]).unwrap().is_some());
        let k = KmsRow {
            latency_ms: 1.0,
            concurrency: 8,
            requests_per_s: 3000.0,
            ideal_per_s: Some(4000.0),
            ratio: None,
            objects_per_s: None,
        };
        assert!(kms(&[k]).unwrap().unwrap().contains("1 ms: 0.75×"));
        assert!(objects(&[]).unwrap().is_none());
        assert!(ratios(&[]).unwrap().is_none());
    }
}
