// The device's store of model updates (issue 18, section 4; docs/models.md): versions of
// the models its inference plugin serves that the fleet console pushed over MQTT
// (`models.update`), kept under <agent.state_dir>/models/ so that a restart comes up on
// the model that was active — never on a half-written or unverified file.
//
// Layout:
//   store.json               what is there and which version is active (written whole:
//                            a temporary file renamed over the old one)
//   <name>/<version>.onnx    verified versions (size and sha256 checked before they get
//                            here)
//   staging/<name>@<version>.part   an upload in progress (discarded at start)
//   manifest-<hash>.toml     overlay manifests: the plugin's manifest with the active
//                            versions' files and digests in place of the shipped ones
//
// A model is named as in the inference plugin's manifest ([[model]] name). "Shipped" is
// the manifest's own file (version ""). The activation itself (config change, held-back
// check, rollback) is the agent's (agent/core/model_commands.cpp); this class keeps files
// and state only.
//
// Threads: any; each call holds the store's lock (find() and base_manifest() hand out
// references: use them while no other thread changes the store — the agent runs one
// model job at a time).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace tierd {

// A refusal with the command error code it becomes (docs/mqtt.md).
struct ModelStoreError {
    std::string code;
    std::string message;
};

struct ModelVersion {
    std::string sha256;
    std::uint64_t bytes = 0;
    std::string received_at; // UTC ISO 8601
    bool rejected = false;   // activated and rolled back, or refused; kept for the record
    std::string note;        // why it was rejected, or the held-back figures at activation
};

struct StoredModel {
    std::string active;   // "" = the shipped file
    std::string previous; // what was active before (the rollback target); "" = shipped
    bool pinned = false;  // activated by hand: updates are staged but not activated
    std::map<std::string, ModelVersion> versions;
};

class ModelStore {
  public:
    // Opens (creates) the store in `dir`. An unreadable store.json is moved aside
    // (store.json.corrupt) and the store starts empty: the shipped models serve.
    explicit ModelStore(std::string dir);

    // Start-up: discards uploads left in staging and checks every active version's file
    // (size and sha256); one that fails goes back to its previous verified version, else
    // to the shipped model. Returns one line per thing it did, for the log.
    std::vector<std::string> recover();

    // An upload: `begin` (offset 0) checks the arguments and the free space (twice the
    // size, plus 1 MiB, must be free) and opens the staging file; `append` adds the bytes
    // at `offset` (which must be what was received so far); when all `size` bytes are
    // there, `finish` checks the sha256 and moves the file into place. Throws
    // ModelStoreError: invalid_args, exists (that version is stored with other bytes),
    // no_space, out_of_order, verify_failed, io_error.
    void begin(const std::string &name, const std::string &version, const std::string &sha256,
               std::uint64_t size);
    // Returns the bytes received so far.
    std::uint64_t append(const std::string &name, const std::string &version, std::uint64_t offset,
                         const std::string &bytes);
    void finish(const std::string &name, const std::string &version);
    // The upload in progress for name@version: {received, size}; nullopt when none.
    std::optional<std::pair<std::uint64_t, std::uint64_t>> upload(const std::string &name,
                                                                  const std::string &version) const;

    // Makes `version` ("" = shipped) the active one (the current becomes `previous`),
    // remembers the manifest the overlays are made from (`base_manifest`, unless empty)
    // and what the activation measured (`note`, on a stored version), and saves once.
    // Throws ModelStoreError not_found for an unknown version.
    void activate(const std::string &name, const std::string &version, bool pinned,
                  const std::string &base_manifest = {}, const std::string &note = {});
    // Marks a version rejected (with why) and saves; the active version is not changed.
    void reject(const std::string &name, const std::string &version, const std::string &why);
    void unpin(const std::string &name);

    const StoredModel *find(const std::string &name) const;
    // The file of a stored version.
    std::string file(const std::string &name, const std::string &version) const;
    // True when some model has an active version other than the shipped one.
    bool any_active() const;

    // Writes the overlay of `base_manifest` for the active versions (plus `also`, a
    // name -> version to try, when set) and returns its path. The updated models' split
    // cuts are left out (their head and tail files are the shipped model's). Throws
    // ModelStoreError io_error / invalid_args (a name the manifest does not have).
    std::string overlay(const std::string &base_manifest,
                        const std::map<std::string, std::string> &also = {}) const;

    // models.list's view: {"models": {name: {"active", "previous", "pinned", "versions":
    // {version: {"sha256", "bytes", "received_at", "rejected", "note"}}}}, "uploads": [...]}.
    nlohmann::json to_json() const;

    const std::string &dir() const { return dir_; }
    // The manifest the overlays are made from (the config file's, before any update);
    // "" until the first activation. Saved with the store.
    const std::string &base_manifest() const { return base_manifest_; }
    // True for a path this store wrote (an overlay manifest).
    bool is_overlay(const std::string &path) const;

  private:
    void save() const; // with the lock held
    nlohmann::json json_locked() const;
    std::string staging_path(const std::string &name, const std::string &version) const;

    std::string dir_;
    std::string base_manifest_;
    std::map<std::string, StoredModel> models_;
    struct Upload {
        std::string sha256;
        std::uint64_t size = 0, received = 0;
    };
    std::map<std::string, Upload> uploads_; // key name@version
    mutable std::mutex mutex_;
};

// sha256 of a file as 64 lowercase hex digits; throws ModelStoreError io_error.
std::string sha256_of_file(const std::string &path);

} // namespace tierd
