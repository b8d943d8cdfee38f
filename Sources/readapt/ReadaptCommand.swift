import ArgumentParser
import ReAdapt

@main
struct Readapt: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "readapt",
        abstract: "Adapt instruction-tuned language models to new domains (RE-Adapt).",
        subcommands: [TokenizeCommand.self, GenerateCommand.self, ChatCommand.self, PerplexityCommand.self,
                      ExtractCommand.self, MergeCommand.self, InspectCommand.self, ConvertCommand.self, TrainCommand.self, Bench.self]
    )
}
