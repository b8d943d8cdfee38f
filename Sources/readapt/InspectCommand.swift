import ArgumentParser
import Foundation
import ReAdapt

/// `readapt inspect`: what a model, delta checkpoint or adapter holds; spectra of a delta.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show the tensors, dtypes, parameter counts and ranks of a model, delta or adapter.",
        discussion: """
        PATH is a Hugging Face model directory, a .gguf file, a delta checkpoint or LoRE adapter \
        written by `readapt extract`, or a PEFT adapter directory. For a dense delta it also \
        computes the singular values of every linear matrix and reports, per tau, the LoRE ranks \
        per layer and the share of parameters kept (sum k(m+n) / sum mn), and compares tau = 0.5 \
        with a rank budget of the same size. --plot writes the explained-variance curves per \
        matrix type and layer (the RE-Adapt paper's Figure 2) and parameters kept vs tau (Figure 3).
        """
    )

    @Argument(help: "The model, delta checkpoint or adapter to inspect.")
    var path: String

    @Flag(name: .long, help: "Print everything as JSON on stdout.")
    var json = false

    @Option(name: .long, help: "Write the figures of a dense delta to this SVG file.")
    var plot: String?

    @Option(name: .long, help: "Comma list of explained-variance thresholds for the rank table.")
    var taus: String = "0.25,0.5,0.75,0.9"

    @Flag(name: .long, help: "List every tensor (name, dtype, shape, group).")
    var tensors = false

    @Flag(name: .long, help: "Skip the SVDs of a dense delta (listing only).")
    var noSpectra = false

    func tauList() throws -> [Double] {
        try taus.split(separator: ",").map { part in
            let text = part.trimmingCharacters(in: .whitespaces)
            guard let tau = Double(text), tau > 0, tau <= 1 else {
                throw ValidationError("--taus must be a comma list of numbers in (0, 1], not '\(taus)'.")
            }
            return tau
        }
    }

    func validate() throws {
        guard !(try tauList()).isEmpty else { throw ValidationError("--taus must list at least one number.") }
        if plot != nil, noSpectra { throw ValidationError("--plot needs the spectra; drop --no-spectra.") }
        if let plot, !plot.lowercased().hasSuffix(".svg") { throw ValidationError("--plot must name an .svg file, not '\(plot)'.") }
    }

    func run() throws {
        var inspection = try Inspection(path: path)
        if inspection.kind == .delta, !noSpectra {
            try inspection.analyzeSpectra(taus: try tauList()) { i, n, name in
                if i == n || i % 10 == 0 { printToStandardError("SVD \(i)/\(n) \(name)") }
            }
        }
        if let plot {
            guard let spectrum = inspection.spectrum else {
                throw CommandLineError("\(path) is not a dense delta checkpoint, so there is nothing to plot.")
            }
            try SVGPlot.write(spectrum.svg(title: "Explained variance of \(URL(fileURLWithPath: path).lastPathComponent)"),
                              to: URL(fileURLWithPath: plot))
            printToStandardError("Wrote \(plot).")
        }
        if json {
            try printJSON(inspection)
        } else {
            print(Self.report(inspection, listTensors: tensors))
        }
    }

    static func millions(_ n: Int) -> String { n < 1_000_000 ? "\(n)" : String(format: "%.3fM", Double(n) / 1e6) }
    static func percent(_ x: Double) -> String { String(format: "%.1f%%", 100 * x) }

    static func report(_ i: Inspection, listTensors: Bool) -> String {
        let kinds: [Inspection.Kind: String] = [.model: "model", .gguf: "GGUF model", .delta: "delta checkpoint",
                                                .lore: "LoRE adapter", .peft: "PEFT adapter"]
        var lines = ["\(i.path): \(kinds[i.kind] ?? i.kind.rawValue), \(i.tensors.count) tensors, \(millions(i.parameters)) parameters"]
        lines.append("dtypes: " + i.dtypes.sorted { $0.key < $1.key }.map { "\($0.key) \(millions($0.value))" }.joined(separator: ", "))
        lines.append(TextTable.render(header: ["group", "tensors", "parameters"], rows: TensorGroup.allCases.compactMap { g in
            i.groups[g.rawValue].map { [g.rawValue, "\($0.tensors)", millions($0.parameters)] }
        }))
        if let m = i.metadata {
            lines.append("base: \(m.base.path) (config sha256 \(m.base.configSHA256.prefix(12)))")
            lines.append("instruct: \(m.instruct.path) (config sha256 \(m.instruct.configSHA256.prefix(12)))")
            lines.append("stored \(m.dtype); groups \(m.groups.map(\.rawValue).joined(separator: ",")); tied embeddings \(m.tiedEmbeddings); vocabulary \(m.baseVocabSize) → \(m.instructVocabSize)"
                         + (m.carriedRowTensors.isEmpty ? "" : "; rows carried whole in \(m.carriedRowTensors.joined(separator: ", "))"))
        }
        if let config = i.adapterConfig {
            lines.append("adapter_config: " + config.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        }
        if let modules = i.modules, !modules.isEmpty {
            var ranks: [String: Int] = [:]
            for module in modules { ranks[module.module] = module.rank }
            lines.append("LoRA ranks per layer:")
            lines.append(rankTable(names: modules.map(\.module), ranks: ranks))
            if modules.contains(where: \.magnitude) { lines.append("DoRA magnitude vectors present.") }
        }
        if let s = i.spectrum {
            lines.append("LoRE on \(s.matrices.count) linear matrices (\(millions(s.parametersFull)) parameters):")
            lines.append(TextTable.render(header: ["tau", "parameters kept", "share", "variance kept"], rows: s.taus.map {
                [String(format: "%.2f", $0.target), millions($0.parametersKept), percent($0.parameterShare), percent($0.explainedVariance)]
            }))
            for allocation in s.taus {
                lines.append(String(format: "ranks at tau = %.2f:", allocation.target))
                lines.append(rankTable(names: s.matrices.map(\.name), ranks: allocation.ranks))
            }
            lines.append(String(format: "ranks of a rank budget of the same share as tau = %.2f (%@):",
                                s.tauAllocation.target, percent(s.tauAllocation.parameterShare)))
            lines.append(rankTable(names: s.matrices.map(\.name), ranks: s.budgetAllocation.ranks))
            lines.append(String(format: "At the parameter share of tau = %.2f (%@): tau keeps %@ of the variance, the rank budget %@.",
                                s.tauAllocation.target, percent(s.tauAllocation.parameterShare),
                                percent(s.tauAllocation.explainedVariance), percent(s.budgetAllocation.explainedVariance)))
        }
        if listTensors {
            lines.append(TextTable.render(header: ["tensor", "dtype", "shape", "group"], rows: i.tensors.map {
                [$0.name, $0.dtype, "\($0.shape)", $0.group.rawValue]
            }))
        }
        return lines.joined(separator: "\n")
    }

    /// Rows = layers, columns = module types, cells = ranks.
    static func rankTable(names: [String], ranks: [String: Int]) -> String {
        func split(_ name: String) -> (layer: String, type: String) {
            let parts = name.split(separator: ".").map(String.init)
            let layer = parts.firstIndex(of: "layers").flatMap { $0 + 1 < parts.count ? parts[$0 + 1] : nil } ?? "-"
            let module = parts.last == "weight" ? parts.dropLast() : parts[...]
            return (layer, module.last ?? name)
        }
        var types: [String] = [], layers: [String] = [], cell: [String: String] = [:]
        for name in names {
            let (layer, type) = split(name)
            if !types.contains(type) { types.append(type) }
            if !layers.contains(layer) { layers.append(layer) }
            cell[layer + "/" + type] = ranks[name].map(String.init) ?? ""
        }
        layers.sort { (Int($0) ?? -1) < (Int($1) ?? -1) }
        let order = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
        types.sort { (order.firstIndex(of: $0) ?? order.count, $0) < (order.firstIndex(of: $1) ?? order.count, $1) }
        return TextTable.render(header: ["layer"] + types, rows: layers.map { layer in [layer] + types.map { cell[layer + "/" + $0] ?? "" } })
    }
}
