import ArgumentParser

/// `readapt bench …`: performance measurements (see BENCHMARKS.md).
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure ReAdapt's performance.",
        subcommands: [BenchGEMM.self, BenchModel.self, BenchLoRE.self, BenchTrain.self, BenchOptim.self, BenchBM25.self]
    )
}
