import Foundation

/// One curve of a line plot.
public struct PlotSeries: Sendable {
    public var label: String
    public var points: [(x: Double, y: Double)]
    public init(label: String, points: [(x: Double, y: Double)]) {
        self.label = label
        self.points = points
    }
}

/// One panel: axes, labels, a legend and its curves.
public struct PlotPanel: Sendable {
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var xRange: ClosedRange<Double>
    public var yRange: ClosedRange<Double>
    public var series: [PlotSeries]
    public init(title: String, xLabel: String, yLabel: String, xRange: ClosedRange<Double>,
                yRange: ClosedRange<Double>, series: [PlotSeries]) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.xRange = xRange
        self.yRange = yRange
        self.series = series
    }
}

/// A hand-written SVG of line-plot panels in a grid. Every curve is exactly one `<path>` element
/// (axes, ticks and legend swatches are `<line>`s), so a reader can count curves.
public enum SVGPlot {
    static let panelWidth = 340.0, panelHeight = 260.0
    static let margin = (left: 52.0, right: 14.0, top: 28.0, bottom: 42.0)
    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    /// Curves are drawn with at most this many points (evenly spaced, ends kept).
    static let maxPoints = 400

    public static func render(title: String, panels: [PlotPanel], columns: Int) -> String {
        let columns = max(1, min(columns, panels.count))
        let rowCount = (panels.count + columns - 1) / columns
        let width = Double(columns) * panelWidth, height = Double(rowCount) * panelHeight + 30
        var svg = """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(fmt(width))" height="\(fmt(height))" \
        viewBox="0 0 \(fmt(width)) \(fmt(height))" font-family="Helvetica, Arial, sans-serif" font-size="11">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(fmt(width / 2))" y="20" text-anchor="middle" font-size="14">\(escape(title))</text>

        """
        for (i, panel) in panels.enumerated() {
            let x = Double(i % columns) * panelWidth, y = 30 + Double(i / columns) * panelHeight
            svg += renderPanel(panel, originX: x, originY: y)
        }
        return svg + "</svg>\n"
    }

    static func renderPanel(_ panel: PlotPanel, originX: Double, originY: Double) -> String {
        let left = originX + margin.left, right = originX + panelWidth - margin.right
        let top = originY + margin.top, bottom = originY + panelHeight - margin.bottom
        let xSpan = max(panel.xRange.upperBound - panel.xRange.lowerBound, 1e-12)
        let ySpan = max(panel.yRange.upperBound - panel.yRange.lowerBound, 1e-12)
        func px(_ v: Double) -> Double { left + (v - panel.xRange.lowerBound) / xSpan * (right - left) }
        func py(_ v: Double) -> Double { bottom - (v - panel.yRange.lowerBound) / ySpan * (bottom - top) }

        var out = "<g>\n"
        out += "<text x=\"\(fmt((left + right) / 2))\" y=\"\(fmt(originY + 18))\" text-anchor=\"middle\" font-size=\"12\">\(escape(panel.title))</text>\n"
        out += "<line x1=\"\(fmt(left))\" y1=\"\(fmt(bottom))\" x2=\"\(fmt(right))\" y2=\"\(fmt(bottom))\" stroke=\"black\"/>\n"
        out += "<line x1=\"\(fmt(left))\" y1=\"\(fmt(top))\" x2=\"\(fmt(left))\" y2=\"\(fmt(bottom))\" stroke=\"black\"/>\n"
        for t in 0...4 {
            let xv = panel.xRange.lowerBound + xSpan * Double(t) / 4
            let yv = panel.yRange.lowerBound + ySpan * Double(t) / 4
            out += "<line x1=\"\(fmt(px(xv)))\" y1=\"\(fmt(bottom))\" x2=\"\(fmt(px(xv)))\" y2=\"\(fmt(bottom + 4))\" stroke=\"black\"/>"
            out += "<text x=\"\(fmt(px(xv)))\" y=\"\(fmt(bottom + 15))\" text-anchor=\"middle\">\(tick(xv))</text>\n"
            out += "<line x1=\"\(fmt(left - 4))\" y1=\"\(fmt(py(yv)))\" x2=\"\(fmt(left))\" y2=\"\(fmt(py(yv)))\" stroke=\"black\"/>"
            out += "<text x=\"\(fmt(left - 6))\" y=\"\(fmt(py(yv) + 4))\" text-anchor=\"end\">\(tick(yv))</text>\n"
        }
        out += "<text x=\"\(fmt((left + right) / 2))\" y=\"\(fmt(bottom + 32))\" text-anchor=\"middle\">\(escape(panel.xLabel))</text>\n"
        let yMid = (top + bottom) / 2
        out += "<text x=\"\(fmt(originX + 14))\" y=\"\(fmt(yMid))\" text-anchor=\"middle\" transform=\"rotate(-90 \(fmt(originX + 14)) \(fmt(yMid)))\">\(escape(panel.yLabel))</text>\n"
        for (i, series) in panel.series.enumerated() {
            let color = palette[i % palette.count]
            let points = thin(series.points)
            guard let first = points.first else { continue }
            var d = "M\(fmt(px(first.x))),\(fmt(py(first.y)))"
            for p in points.dropFirst() { d += " L\(fmt(px(p.x))),\(fmt(py(p.y)))" }
            out += "<path d=\"\(d)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\"><title>\(escape(series.label))</title></path>\n"
            // Legend, bottom-right inside the axes (curves of these figures rise to the top-left).
            let ly = bottom - 10 - Double(panel.series.count - 1 - i) * 14
            out += "<line x1=\"\(fmt(right - 70))\" y1=\"\(fmt(ly))\" x2=\"\(fmt(right - 52))\" y2=\"\(fmt(ly))\" stroke=\"\(color)\" stroke-width=\"2\"/>"
            out += "<text x=\"\(fmt(right - 48))\" y=\"\(fmt(ly + 4))\">\(escape(series.label))</text>\n"
        }
        return out + "</g>\n"
    }

    static func thin(_ points: [(x: Double, y: Double)]) -> [(x: Double, y: Double)] {
        guard points.count > maxPoints else { return points }
        return (0..<maxPoints).map { points[$0 * (points.count - 1) / (maxPoints - 1)] }
    }

    static func fmt(_ v: Double) -> String { String(format: "%.2f", v) }

    static func tick(_ v: Double) -> String {
        if v == v.rounded(), abs(v) < 1e9 { return String(Int(v)) }
        return String(format: abs(v) < 10 ? "%.2f" : "%.0f", v)
    }

    public static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }

    /// Writes `svg` to `url` atomically (a hidden temporary file renamed into place).
    public static func write(_ svg: String, to url: URL) throws {
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).partial-\(UUID().uuidString)")
        do {
            try Data(svg.utf8).write(to: temporary)
            // rename(2) replaces an existing file atomically (FileManager's replace does not on Linux).
            guard rename(temporary.path, url.path) == 0 else {
                throw OutputDirectoryError.cannotWrite(path: url.path, reason: String(cString: strerror(errno)))
            }
        } catch let error as OutputDirectoryError {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw OutputDirectoryError.cannotWrite(path: url.path, reason: StagingDirectory.reason(error))
        }
    }
}
