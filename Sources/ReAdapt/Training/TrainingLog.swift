import Foundation

/// One optimizer step, as logged to `train_log.jsonl` and kept in `trainer_state.json`.
public struct TrainingStepRecord: Codable, Equatable, Sendable {
    public var step: Int
    /// Epochs of data consumed after this step (micro-batches / batches per epoch).
    public var epoch: Double
    /// Mean cross-entropy over the step's counted tokens (all its micro-batches together).
    public var loss: Double
    /// The learning rate this step used.
    public var learningRate: Double
    /// Global L2 norm of the step's gradient before clipping.
    public var gradNorm: Double
    /// Tokens whose label counted in this step's loss.
    public var trainedTokens: Int
    /// Input tokens processed (batch × seq-len × grad-accum) per second in this step.
    public var tokensPerSecond: Double
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case step, epoch, loss, seconds
        case learningRate = "learning_rate", gradNorm = "grad_norm", trainedTokens = "trained_tokens"
        case tokensPerSecond = "tokens_per_second"
    }
}

/// A validation pass: the mean loss over every counted token of the validation sequences.
public struct ValidationRecord: Codable, Equatable, Sendable {
    public var step: Int
    public var loss: Double
    public var tokens: Int
}

/// The JSONL log and SVG loss curve in the output directory. Both are rewritten from the records
/// (the log is appended to step by step), so after a resume they hold exactly the steps the
/// resumed state knows about.
public struct TrainingLog {
    public static let logFileName = "train_log.jsonl"
    public static let plotFileName = "loss.svg"

    public let directory: URL
    public private(set) var steps: [TrainingStepRecord] = []
    public private(set) var validations: [ValidationRecord] = []

    public init(directory: URL, steps: [TrainingStepRecord] = [], validations: [ValidationRecord] = []) {
        self.directory = directory
        self.steps = steps
        self.validations = validations
    }

    var logURL: URL { directory.appendingPathComponent(Self.logFileName) }

    /// Rewrites the whole JSONL file from the records (on start and resume).
    public func rewrite() throws {
        var text = ""
        // Interleave by step: a validation after step s follows that step's record.
        var v = 0
        for record in steps {
            text += try Self.line(type: "train", record)
            while v < validations.count, validations[v].step <= record.step { text += try Self.line(type: "validation", validations[v]); v += 1 }
        }
        while v < validations.count { text += try Self.line(type: "validation", validations[v]); v += 1 }
        try write(Data(text.utf8), to: logURL, atomically: true)
    }

    public mutating func append(_ record: TrainingStepRecord) throws {
        steps.append(record)
        try appendLine(Self.line(type: "train", record))
    }

    public mutating func append(_ record: ValidationRecord) throws {
        validations.append(record)
        try appendLine(Self.line(type: "validation", record))
    }

    /// `{"type": ..., <record fields>}` on one line, keys sorted.
    static func line<T: Encodable>(type: String, _ record: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var body = String(decoding: try encoder.encode(record), as: UTF8.self)
        body.removeFirst()  // "{"
        return "{\"type\":\"\(type)\"," + body + "\n"
    }

    private func appendLine(_ line: String) throws {
        guard let handle = FileHandle(forWritingAtPath: logURL.path) else {
            return try write(Data(line.utf8), to: logURL, atomically: false)
        }
        defer { try? handle.close() }
        do {
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(line.utf8))
        } catch {
            throw OutputDirectoryError.cannotWrite(path: logURL.path, reason: StagingDirectory.reason(error))
        }
    }

    private func write(_ data: Data, to url: URL, atomically: Bool) throws {
        do { try data.write(to: url, options: atomically ? .atomic : []) } catch {
            throw OutputDirectoryError.cannotWrite(path: url.path, reason: StagingDirectory.reason(error))
        }
    }

    /// The loss curve: training loss per step and validation loss at each evaluation.
    public func svg(title: String) -> String {
        let train = steps.map { (x: Double($0.step), y: $0.loss) }
        let validation = validations.map { (x: Double($0.step), y: $0.loss) }
        let all = (train + validation).filter { $0.y.isFinite }
        let maxStep = max(1, all.map(\.x).max() ?? 1)
        let yMax = all.map(\.y).max() ?? 1, yMin = min(0, all.map(\.y).min() ?? 0)
        var series = [PlotSeries(label: "train", points: train)]
        if !validation.isEmpty { series.append(PlotSeries(label: "validation", points: validation)) }
        let panel = PlotPanel(title: "Loss", xLabel: "optimizer step", yLabel: "cross-entropy (nats/token)",
                              xRange: 0...maxStep, yRange: yMin...(yMax > yMin ? yMax * 1.05 : yMin + 1),
                              series: series)
        return SVGPlot.render(title: title, panels: [panel], columns: 1)
    }

    public func writePlot(title: String) throws {
        try SVGPlot.write(svg(title: title), to: directory.appendingPathComponent(Self.plotFileName))
    }
}
