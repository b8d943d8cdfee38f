import Foundation

extension SpectrumAnalysis {
    /// The paper's Figure 2 — explained variance v_k against rank k, one panel per matrix type
    /// with one curve per plotted layer — and Figure 3 — the share of parameters kept against tau.
    public func figurePanels() -> [PlotPanel] {
        var panels: [PlotPanel] = []
        for type in types {
            let ofType = matrices.filter { $0.type == type }
            let series = plottedLayers.compactMap { layer -> PlotSeries? in
                guard let m = ofType.first(where: { $0.layer == layer }) else { return nil }
                let points = [(x: 0.0, y: 0.0)] + m.explainedVariance.enumerated().map { (x: Double($0.offset + 1), y: $0.element) }
                return PlotSeries(label: "layer \(layer)", points: points)
            }
            let maxRank = Double(ofType.map { min($0.rows, $0.columns) }.max() ?? 1)
            panels.append(PlotPanel(title: "\(type): explained variance", xLabel: "rank k", yLabel: "v_k",
                                    xRange: 0...max(maxRank, 1), yRange: 0...1, series: series))
        }
        let top = max(1, curve.map(\.parameterShare).max() ?? 1)
        panels.append(PlotPanel(title: "parameters kept vs tau", xLabel: "tau", yLabel: "sum k(m+n) / sum mn",
                                xRange: 0...1, yRange: 0...top,
                                series: [PlotSeries(label: "LoRE", points: curve.map { (x: $0.tau, y: $0.parameterShare) })]))
        return panels
    }

    /// Both figures as one SVG document.
    public func svg(title: String) -> String {
        SVGPlot.render(title: title, panels: figurePanels(), columns: 4)
    }
}

/// A plain-text table with left-aligned first column and right-aligned others.
public enum TextTable {
    public static func render(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = (0..<header.count).map { c in all.map { c < $0.count ? $0[c].count : 0 }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { c, cell in
                let pad = String(repeating: " ", count: max(0, widths[c] - cell.count))
                return c == 0 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }
        let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
        return ([line(header), rule] + rows.map(line)).joined(separator: "\n")
    }
}
