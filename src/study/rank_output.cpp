#include "moesim/study/rank_output.hpp"

#include <cmath>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>

#include <H5Cpp.h>

#include "moesim/common/errors.hpp"
#include "moesim/io/hdf5_writer.hpp"

namespace moesim::study {

std::size_t Table::rows() const {
  if (columns.empty()) return 0;
  return std::visit([](const auto& v) { return v.size(); }, columns.front().values);
}

namespace {

using Numbers = std::vector<double>;
using Texts = std::vector<std::string>;

double b(bool v) { return v ? 1.0 : 0.0; }

Table designs_table(const StudySpec& spec, const RankResult& r) {
  Table t{"designs", "one row per design: generated (budget x E x r under laws[0]) or explicit (study.models)", {}};
  Numbers id, priced, budget, experts, top_k, ratio, n_asked, n_real, total, activated, tokens, tpp, flops, loss, lp05, lp95,
      hidden, layers, heads, kv_heads, inter, moe_layers, gpus, tp, pp, dp, ep, batch, dbatch, tok_s, kv, preempt, step, cost,
      slo_cost, slo_rate, analytic, pareto_b, pareto_all, best, best_share, pareto_share, generated;
  Texts label, arch_name, deployment, model;
  std::vector<Numbers> by_law(spec.laws.size());
  for (const DesignRow& row : r.designs) {
    const PricedArchitecture& p = r.architectures[static_cast<std::size_t>(row.priced)];
    const ModelArchitecture& a = row.design.arch;
    id.push_back(row.id);
    priced.push_back(row.priced);
    label.push_back(row.label);
    generated.push_back(b(row.generated));
    arch_name.push_back(a.name);
    model.push_back(model_yaml(a));
    budget.push_back(row.budget_flops);
    experts.push_back(row.experts);
    top_k.push_back(a.is_moe() ? a.top_k : 1);
    ratio.push_back(row.overtrain_ratio);
    n_asked.push_back(row.design.n_dense_asked);
    n_real.push_back(row.design.n_dense_realised);
    total.push_back(row.design.total_parameters);
    activated.push_back(row.design.activated_parameters);
    tokens.push_back(row.tokens);
    tpp.push_back(row.tokens > 0 ? row.tokens / row.design.n_dense_realised : NAN);
    flops.push_back(row.training_flops);
    loss.push_back(row.loss);
    for (std::size_t l = 0; l < spec.laws.size(); ++l) by_law[l].push_back(row.loss_by_law[l]);
    lp05.push_back(row.generated ? row.loss_p05 : NAN);
    lp95.push_back(row.generated ? row.loss_p95 : NAN);
    hidden.push_back(a.hidden_size);
    layers.push_back(a.num_layers);
    heads.push_back(a.num_attention_heads);
    kv_heads.push_back(a.num_kv_heads);
    inter.push_back(a.intermediate_size);
    moe_layers.push_back(a.num_moe_layers());
    const DeploymentResult* d = p.best >= 0 ? &p.deployments[static_cast<std::size_t>(p.best)] : nullptr;
    deployment.push_back(d ? d->layout.label() : "unservable");
    gpus.push_back(d ? d->layout.gpus() : 0);
    tp.push_back(d ? d->layout.tensor_parallel : 0);
    pp.push_back(d ? d->layout.pipeline_parallel : 0);
    dp.push_back(d ? d->layout.data_parallel : 0);
    ep.push_back(d ? (d->layout.expert_parallel ? 1 : 0) : 0);
    batch.push_back(d ? d->batch_size_mean : NAN);
    dbatch.push_back(d ? d->decode_batch_size_mean : NAN);
    tok_s.push_back(d ? d->output_tokens_per_s : NAN);
    kv.push_back(d ? d->kv_utilization_mean : NAN);
    preempt.push_back(d ? static_cast<double>(d->preemptions) : NAN);
    step.push_back(d ? d->mean_step_s : NAN);
    cost.push_back(p.cost());
    slo_cost.push_back(p.slo_cost());
    slo_rate.push_back(p.best_slo >= 0 ? p.deployments[static_cast<std::size_t>(p.best_slo)].slo_rate_per_s : NAN);
    analytic.push_back(row.analytic_cost_per_million_usd);
    pareto_b.push_back(b(row.pareto_in_budget));
    pareto_all.push_back(b(row.pareto_overall));
    best.push_back(b(row.best_in_budget));
    best_share.push_back(row.generated ? row.best_share : NAN);
    pareto_share.push_back(row.generated ? row.pareto_share : NAN);
  }
  t.columns = {
      {"id", "", "design index", id},
      {"priced_architecture", "", "index of its priced architecture (deployments.architecture)", priced},
      {"label", "", "E<experts>@<budget>/r<ratio>, or the explicit model's label", label},
      {"generated", "", "1: generated from a budget; 0: explicit model", generated},
      {"architecture", "", "realised architecture name (moe-e<E>k<K>-h<hidden>-l<layers>)", arch_name},
      {"model_yaml", "", "the architecture as a scenario's inline model: mapping (paste into a scenario)", model},
      {"budget_flops", "FLOPs", "training budget (0 for explicit models)", budget},
      {"experts", "", "E", experts},
      {"top_k", "", "K", top_k},
      {"overtrain_ratio", "", "r = N asked / N_opt (1: loss-optimal)", ratio},
      {"n_dense_asked", "parameters", "corresponding-dense size asked by the allocator", n_asked},
      {"n_dense_realised", "parameters", "exact corresponding-dense non-embedding parameters of the architecture", n_real},
      {"total_parameters", "parameters", "exact, embeddings included", total},
      {"activated_parameters", "parameters", "exact, embeddings included", activated},
      {"training_tokens", "tokens", "D = budget / (6 N_train)", tokens},
      {"tokens_per_parameter", "tokens/parameter", "D / N realised", tpp},
      {"training_flops", "FLOPs", "6 N_train D", flops},
      {"loss", "nats/token", "predicted loss under laws[0]", loss},
      {"loss_p05", "nats/token", "5 % quantile of the loss over every law and bootstrap refit", lp05},
      {"loss_p95", "nats/token", "95 % quantile of the loss over every law and bootstrap refit", lp95},
      {"hidden_size", "", "", hidden},
      {"num_layers", "", "", layers},
      {"num_attention_heads", "", "", heads},
      {"num_kv_heads", "", "", kv_heads},
      {"intermediate_size", "", "dense and expert gated-MLP width", inter},
      {"num_moe_layers", "", "", moe_layers},
      {"best_deployment", "", "cheapest layout at saturation (TPxPPxDP)", deployment},
      {"gpus", "GPUs", "G of the best deployment", gpus},
      {"tensor_parallel", "", "", tp},
      {"pipeline_parallel", "", "", pp},
      {"data_parallel", "", "", dp},
      {"expert_parallel", "", "1: --enable-expert-parallel (EP = TP x DP, DP ranks in lockstep)", ep},
      {"batch_size_mean", "sequences", "mean sequences per step (prefill and decode steps) at saturation", batch},
      {"decode_batch_size_mean", "sequences", "mean sequences per decode step at saturation", dbatch},
      {"output_tokens_per_s", "tokens/s", "saturation throughput of the best deployment", tok_s},
      {"kv_utilization_mean", "", "mean fraction of KV blocks in use", kv},
      {"preemptions", "", "preemptions at saturation", preempt},
      {"mean_step_s", "s", "mean step time of one replica", step},
      {"cost_per_million_tokens_usd", "USD/1e6 tokens", "saturation cost per million output tokens (inf: unservable)", cost},
      {"slo_cost_per_million_tokens_usd", "USD/1e6 tokens", "cost at the highest rate meeting the SLOs (inf: none/no SLO)", slo_cost},
      {"slo_rate_per_s", "requests/s", "highest Poisson rate meeting the SLOs", slo_rate},
      {"analytic_cost_per_million_tokens_usd", "USD/1e6 tokens", "paper Eqs. 5-6 on the best deployment", analytic},
      {"pareto_in_budget", "", "1: on the loss-cost Pareto front of its budget (laws[0])", pareto_b},
      {"pareto_overall", "", "1: on the loss-cost Pareto front of all designs (laws[0])", pareto_all},
      {"best_in_budget", "", "1: cheapest design within loss_tolerance of its budget's lowest loss (laws[0])", best},
      {"best_share", "", "share of law samples (laws and bootstrap refits) under which it is best", best_share},
      {"pareto_share", "", "share of law samples under which it is Pareto-optimal", pareto_share},
  };
  for (std::size_t l = 0; l < spec.laws.size(); ++l) {
    t.columns.push_back({"loss_law" + std::to_string(l), "nats/token", "loss under law '" + spec.laws[l].law.name + "'",
                         by_law[l]});
  }
  return t;
}

Table deployments_table(const RankResult& r) {
  Table t{"deployments", "every simulated layout of every priced architecture", {}};
  Numbers arch, simulated, tp, pp, dp, ep, gpus, fits, tok_s, req_s, batch, dbatch, kv, pre, step, cost, analytic, blocks, slo_s,
      slo_met, slo_rate, slo_cost, slo_ttft, slo_tpot;
  Texts key, reason;
  for (std::size_t a = 0; a < r.architectures.size(); ++a) {
    for (const DeploymentResult& d : r.architectures[a].deployments) {
      arch.push_back(static_cast<double>(a));
      key.push_back(r.architectures[a].key);
      simulated.push_back(b(d.simulated));
      tp.push_back(d.layout.tensor_parallel);
      pp.push_back(d.layout.pipeline_parallel);
      dp.push_back(d.layout.data_parallel);
      ep.push_back(d.layout.expert_parallel ? 1 : 0);
      gpus.push_back(d.layout.gpus());
      fits.push_back(b(d.fits));
      reason.push_back(d.reason);
      tok_s.push_back(d.output_tokens_per_s);
      req_s.push_back(d.requests_per_s);
      batch.push_back(d.batch_size_mean);
      dbatch.push_back(d.decode_batch_size_mean);
      kv.push_back(d.kv_utilization_mean);
      pre.push_back(static_cast<double>(d.preemptions));
      step.push_back(d.mean_step_s);
      cost.push_back(d.cost_per_million_usd);
      analytic.push_back(d.analytic_cost_per_million_usd);
      blocks.push_back(static_cast<double>(d.num_gpu_blocks));
      slo_s.push_back(b(d.slo_searched));
      slo_met.push_back(b(d.slo_met));
      slo_rate.push_back(d.slo_rate_per_s);
      slo_cost.push_back(d.slo_cost_per_million_usd);
      slo_ttft.push_back(d.slo_ttft_p99_s);
      slo_tpot.push_back(d.slo_tpot_p99_s);
    }
  }
  t.columns = {{"architecture", "", "index of the priced architecture (designs/priced points share it)", arch},
               {"architecture_key", "", "canonical architecture text", key},
               {"simulated", "", "1: simulated (0: not reached before an interrupt; --resume runs it)", simulated},
               {"tensor_parallel", "", "", tp},
               {"pipeline_parallel", "", "", pp},
               {"data_parallel", "", "replicas (or lockstep DP ranks with expert_parallel)", dp},
               {"expert_parallel", "", "1: --enable-expert-parallel (EP = TP x DP, DP ranks in lockstep)", ep},
               {"gpus", "GPUs", "", gpus},
               {"fits", "", "1: the model fits and served requests", fits},
               {"reason", "", "why it does not fit (GiB numbers)", reason},
               {"output_tokens_per_s", "tokens/s", "saturation", tok_s},
               {"requests_per_s", "requests/s", "saturation", req_s},
               {"batch_size_mean", "sequences", "", batch},
               {"decode_batch_size_mean", "sequences", "", dbatch},
               {"kv_utilization_mean", "", "", kv},
               {"preemptions", "", "", pre},
               {"mean_step_s", "s", "", step},
               {"cost_per_million_tokens_usd", "USD/1e6 tokens", "saturation", cost},
               {"analytic_cost_per_million_tokens_usd", "USD/1e6 tokens", "paper Eqs. 5-6, same deployment", analytic},
               {"num_gpu_blocks", "blocks", "KV blocks per replica", blocks},
               {"slo_searched", "", "", slo_s},
               {"slo_met", "", "", slo_met},
               {"slo_rate_per_s", "requests/s", "", slo_rate},
               {"slo_cost_per_million_tokens_usd", "USD/1e6 tokens", "", slo_cost},
               {"slo_ttft_p99_s", "s", "worst seed at that rate", slo_ttft},
               {"slo_tpot_p99_s", "s", "worst seed at that rate", slo_tpot}};
  return t;
}

Table flops_table(const RankResult& r) {
  Table t{"flops_to_match", "budget E' needs for its loss-optimal loss to equal E's at a budget (paper Sec. 5.1)", {}};
  Numbers budget, base, other, target, needed, ratio;
  for (const FlopsToMatchRow& f : r.flops_to_match) {
    budget.push_back(f.budget_flops);
    base.push_back(f.base_experts);
    other.push_back(f.other_experts);
    target.push_back(f.target_loss);
    needed.push_back(f.flops_needed);
    ratio.push_back(f.flops_needed / f.budget_flops);
  }
  t.columns = {{"budget_flops", "FLOPs", "", budget},
               {"base_experts", "", "E", base},
               {"other_experts", "", "E'", other},
               {"target_loss", "nats/token", "loss-optimal loss of E at the budget", target},
               {"flops_needed", "FLOPs", "NaN when not found within 1e-4..1e4 x the budget", needed},
               {"flops_ratio", "", "flops_needed / budget", ratio}};
  return t;
}

Table algorithms_table(const RankResult& r) {
  Table t{"algorithms", "paper Algorithms 1 and 2 (Appendix E) with simulated costs, laws[0]", {}};
  Numbers alg, budget, base, cand, bn, bl, bc, cn, cl, cc, frac;
  Texts arch, note;
  for (const BoundedRow& x : r.bounded) {
    alg.push_back(x.algorithm);
    budget.push_back(x.budget_flops);
    base.push_back(x.base_experts);
    cand.push_back(x.candidate_experts);
    bn.push_back(x.base_n);
    bl.push_back(x.base_loss);
    bc.push_back(x.base_cost);
    cn.push_back(x.candidate_n);
    cl.push_back(x.candidate_loss);
    cc.push_back(x.candidate_cost);
    frac.push_back(x.candidate_fraction);
    arch.push_back(x.candidate_arch);
    note.push_back(x.note);
  }
  t.columns = {{"algorithm", "", "1: cheapest at the base loss; 2: lowest loss within the base cost", alg},
               {"budget_flops", "FLOPs", "", budget},
               {"base_experts", "", "E", base},
               {"candidate_experts", "", "E'", cand},
               {"base_n_dense", "parameters", "loss-optimal E model", bn},
               {"base_loss", "nats/token", "", bl},
               {"base_cost_per_million_tokens_usd", "USD/1e6 tokens", "simulated", bc},
               {"candidate_n_dense", "parameters", "", cn},
               {"candidate_loss", "nats/token", "", cl},
               {"candidate_cost_per_million_tokens_usd", "USD/1e6 tokens", "simulated", cc},
               {"candidate_fraction", "", "N / N_opt(E')", frac},
               {"candidate_architecture", "", "", arch},
               {"note", "", "", note}};
  return t;
}

Table law_best_table(const RankResult& r) {
  Table t{"law_best", "best design per budget under every law sample (named laws, then bootstrap refits)", {}};
  Numbers named, budget, best;
  Texts law;
  for (const LawSampleBest& x : r.law_best) {
    law.push_back(x.law);
    named.push_back(b(x.named));
    budget.push_back(x.budget_flops);
    best.push_back(x.best_design);
  }
  t.columns = {{"law", "", "", law},
               {"named", "", "1: a named law; 0: a bootstrap refit", named},
               {"budget_flops", "FLOPs", "", budget},
               {"best_design", "", "designs.id (-1: none servable)", best}};
  return t;
}

std::string csv_quote(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

// The shortest of 15 and 17 significant digits that reads back as the same double: exact, and 0.1 stays
// "0.1" rather than "0.10000000000000001".
std::string number_text(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::ostringstream s;
  s << std::setprecision(15) << v;
  if (std::stod(s.str()) == v) return s.str();
  std::ostringstream exact;
  exact << std::setprecision(17) << v;
  return exact.str();
}

std::string fmt(double v, int precision, bool fixed = true) {
  if (std::isinf(v)) return "inf";
  if (std::isnan(v)) return "-";
  std::ostringstream s;
  if (fixed) s << std::fixed;
  s << std::setprecision(precision) << v;
  return s.str();
}

}  // namespace

std::vector<Table> rank_tables(const StudySpec& spec, const RankResult& result) {
  return {designs_table(spec, result), deployments_table(result), flops_table(result), algorithms_table(result),
          law_best_table(result)};
}

void write_rank_hdf5(const std::filesystem::path& path, const StudySpec& spec, const std::string& study_yaml,
                     const std::vector<Table>& tables, bool complete, OverwritePolicy policy) {
  AtomicOutputPath output(path, policy);
  {
    h5::File file(output.temporary_path());
    h5::Group root = file.root();
    root.set_attribute("kind", std::string("moesim-rank"));
    root.set_attribute("schema_version", static_cast<std::int64_t>(1));
    root.set_attribute("moesim_version", std::string(MOESIM_VERSION_STRING));
    root.set_attribute("study_name", spec.name);
    root.set_attribute("complete", static_cast<std::int64_t>(complete ? 1 : 0));
    root.set_attribute("study_yaml", study_yaml);
    root.set_attribute("resolved_scenario_yaml", to_yaml(spec.base));
    std::string laws;
    for (const LawInput& l : spec.laws) laws += l.law.name + "\n";
    root.set_attribute("laws", laws);
    for (const Table& t : tables) write_table_group(root, t);
    file.close();
  }
  output.commit();
}

std::string rank_json(const StudySpec& spec, const std::vector<Table>& tables, const RankResult& result) {
  nlohmann::json j;
  j["study"] = spec.name;
  j["complete"] = !result.interrupted;
  j["simulations"] = result.simulations;
  j["laws"] = result.law_names;
  j["warnings"] = result.warnings;
  for (const Table& t : tables) {
    nlohmann::json rows = nlohmann::json::array();
    for (std::size_t i = 0; i < t.rows(); ++i) {
      nlohmann::json row;
      for (const Column& c : t.columns) {
        if (const auto* v = std::get_if<Numbers>(&c.values)) {
          const double x = (*v)[i];
          if (std::isfinite(x)) {
            row[c.name] = x;
          } else {
            row[c.name] = std::isnan(x) ? nlohmann::json(nullptr) : nlohmann::json(x > 0 ? "inf" : "-inf");
          }
        } else {
          row[c.name] = std::get<Texts>(c.values)[i];
        }
      }
      rows.push_back(row);
    }
    j[t.name] = rows;
  }
  return j.dump(2);
}

std::string table_csv(const Table& t) {
  std::ostringstream csv;
  for (std::size_t c = 0; c < t.columns.size(); ++c) csv << (c ? "," : "") << csv_quote(t.columns[c].name);
  csv << "\n";
  for (std::size_t i = 0; i < t.rows(); ++i) {
    for (std::size_t c = 0; c < t.columns.size(); ++c) {
      const Column& col = t.columns[c];
      csv << (c ? "," : "");
      if (const auto* v = std::get_if<Numbers>(&col.values)) {
        csv << number_text((*v)[i]);
      } else {
        csv << csv_quote(std::get<Texts>(col.values)[i]);
      }
    }
    csv << "\n";
  }
  return csv.str();
}

void write_table_group(h5::Group& root, const Table& t) {
  h5::Group g = root.create_group(t.name);
  g.set_attribute("description", t.description);
  for (const Column& c : t.columns) {
    if (const auto* v = std::get_if<Numbers>(&c.values)) {
      g.write(c.name, std::span<const double>(*v), c.units, c.description);
    } else {
      g.write_strings(c.name, std::get<Texts>(c.values), c.description);
    }
  }
}

void write_rank_csv(const std::filesystem::path& path, const std::vector<Table>& tables, OverwritePolicy policy) {
  for (const Table& t : tables) {
    std::filesystem::path file = path;
    file.replace_extension();
    file += "." + t.name + ".csv";
    write_text_file_atomically(file, table_csv(t), policy);
  }
}

namespace {

std::vector<double> read_numbers(const H5::Group& g, const std::string& name) {
  const H5::DataSet ds = g.openDataSet(name);
  hsize_t n = 0;
  ds.getSpace().getSimpleExtentDims(&n);
  std::vector<double> v(static_cast<std::size_t>(n));
  if (n > 0) ds.read(v.data(), H5::PredType::NATIVE_DOUBLE);
  return v;
}

std::vector<std::string> read_texts(const H5::Group& g, const std::string& name) {
  const H5::DataSet ds = g.openDataSet(name);
  hsize_t n = 0;
  ds.getSpace().getSimpleExtentDims(&n);
  H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
  type.setCset(H5T_CSET_UTF8);
  std::vector<char*> raw(static_cast<std::size_t>(n), nullptr);
  if (n > 0) ds.read(raw.data(), type);
  std::vector<std::string> v;
  for (char* c : raw) v.emplace_back(c != nullptr ? c : "");
  if (n > 0) H5::DataSet::vlenReclaim(raw.data(), type, ds.getSpace());
  return v;
}

}  // namespace

Table read_table_hdf5(const std::filesystem::path& path, const std::string& group, const std::string& kind,
                      std::map<std::string, std::string>& text_attributes) {
  Table t;
  t.name = group;
  try {
    H5::Exception::dontPrint();
    const H5::H5File file(path.string(), H5F_ACC_RDONLY);
    for (auto& [name, value] : text_attributes) {
      if (!file.attrExists(name)) continue;
      const H5::Attribute a = file.openAttribute(name);
      a.read(a.getStrType(), value);
    }
    std::string file_kind;
    if (file.attrExists("kind")) {
      const H5::Attribute a = file.openAttribute("kind");
      a.read(a.getStrType(), file_kind);
    }
    if (file_kind != kind) throw UsageError("'" + path.string() + "' is not a " + kind + " file");
    const H5::Group g = file.openGroup(group);
    for (hsize_t i = 0; i < g.getNumObjs(); ++i) {
      const std::string name = g.getObjnameByIdx(i);
      const H5::DataSet ds = g.openDataSet(name);
      Column c;
      c.name = name;
      if (ds.getTypeClass() == H5T_STRING) {
        c.values = read_texts(g, name);
      } else {
        c.values = read_numbers(g, name);
      }
      t.columns.push_back(std::move(c));
    }
  } catch (const H5::Exception& e) {
    throw UsageError("cannot read '" + path.string() + "' as a " + kind + " file: " + e.getDetailMsg());
  }
  return t;
}

std::map<std::string, DeploymentResult> read_rank_resume(const std::filesystem::path& path,
                                                         const std::string& study_yaml) {
  std::map<std::string, DeploymentResult> known;
  try {
    H5::Exception::dontPrint();
    const H5::H5File file(path.string(), H5F_ACC_RDONLY);
    std::string kind, yaml;
    {
      const H5::Attribute a = file.openAttribute("kind");
      a.read(a.getStrType(), kind);
      const H5::Attribute y = file.openAttribute("study_yaml");
      y.read(y.getStrType(), yaml);
    }
    if (kind != "moesim-rank") throw UsageError("--resume: '" + path.string() + "' is not a moesim rank file");
    if (yaml != study_yaml) {
      throw UsageError("--resume: '" + path.string() + "' was written for another study (its study_yaml differs); "
                       "use another -o or --force to start over");
    }
    const H5::Group g = file.openGroup("deployments");
    const std::vector<std::string> keys = read_texts(g, "architecture_key"), reasons = read_texts(g, "reason");
    const auto col = [&](const char* name) { return read_numbers(g, name); };
    const auto simulated = col("simulated"), tp = col("tensor_parallel"), pp = col("pipeline_parallel"),
               dp = col("data_parallel"), ep = col("expert_parallel"), fits = col("fits"), tok = col("output_tokens_per_s"), req = col("requests_per_s"),
               batch = col("batch_size_mean"), dbatch = col("decode_batch_size_mean"), kv = col("kv_utilization_mean"),
               pre = col("preemptions"), step = col("mean_step_s"), cost = col("cost_per_million_tokens_usd"),
               analytic = col("analytic_cost_per_million_tokens_usd"), blocks = col("num_gpu_blocks"),
               slo_s = col("slo_searched"), slo_met = col("slo_met"), slo_rate = col("slo_rate_per_s"),
               slo_cost = col("slo_cost_per_million_tokens_usd"), slo_ttft = col("slo_ttft_p99_s"),
               slo_tpot = col("slo_tpot_p99_s");
    for (std::size_t i = 0; i < keys.size(); ++i) {
      DeploymentResult d;
      d.layout = Layout{static_cast<int>(tp[i]), static_cast<int>(pp[i]), static_cast<int>(dp[i]), ep[i] != 0};
      d.simulated = simulated[i] != 0;
      d.fits = fits[i] != 0;
      d.reason = reasons[i];
      d.output_tokens_per_s = tok[i];
      d.requests_per_s = req[i];
      d.batch_size_mean = batch[i];
      d.decode_batch_size_mean = dbatch[i];
      d.kv_utilization_mean = kv[i];
      d.preemptions = static_cast<std::int64_t>(pre[i]);
      d.mean_step_s = step[i];
      d.cost_per_million_usd = cost[i];
      d.analytic_cost_per_million_usd = analytic[i];
      d.num_gpu_blocks = static_cast<std::int64_t>(blocks[i]);
      d.slo_searched = slo_s[i] != 0;
      d.slo_met = slo_met[i] != 0;
      d.slo_rate_per_s = slo_rate[i];
      d.slo_cost_per_million_usd = slo_cost[i];
      d.slo_ttft_p99_s = slo_ttft[i];
      d.slo_tpot_p99_s = slo_tpot[i];
      known.emplace(resume_key(keys[i], d.layout), d);
    }
  } catch (const H5::Exception& e) {
    throw UsageError("--resume: cannot read '" + path.string() + "' as a moesim rank file: " + e.getDetailMsg());
  }
  return known;
}

void print_rank_text(std::ostream& out, const StudySpec& spec, const RankResult& r) {
  out << "moesim rank: " << spec.name << " (" << spec.source_file << ")\n";
  out << "  laws: ";
  for (std::size_t i = 0; i < r.law_names.size(); ++i) out << (i ? ", " : "") << r.law_names[i] << (i == 0 ? " (generates, scores)" : "");
  out << "\n  cluster: " << spec.base.cluster.total_gpus() << "x " << spec.base.cluster.gpu.name << " at $"
      << fmt(spec.base.cluster.cost_per_gpu_hour_usd, 2) << "/GPU-hour, layouts up to G = " << spec.max_gpus
      << "; " << r.designs.size() << " designs, " << r.architectures.size() << " architectures, " << r.simulations
      << " simulations" << (r.interrupted ? " (INTERRUPTED: partial)" : "") << "\n";
  out << "  batch = mean decode batch per replica at saturation; tok/s = output tokens/s of the whole deployment;\n"
      << "  cost = saturation cost per million output tokens of the cheapest deployment; analytic = paper Eqs. 5-6;\n"
      << "  P = Pareto-optimal in its budget (loss vs cost), * = best (cheapest within " << fmt(100 * spec.loss_tolerance, 1)
      << " % of the budget's lowest loss)\n\n";
  auto header = [&] {
    out << std::left << std::setw(20) << "design" << std::right << std::setw(4) << "E" << std::setw(3) << "K"
        << std::setw(10) << "N_total" << std::setw(9) << "N_act" << std::setw(10) << "D" << std::setw(7) << "D/N"
        << std::setw(8) << "loss" << std::setw(16) << "deployment" << std::setw(7) << "batch" << std::setw(9)
        << "tok/s" << std::setw(10) << "$/Mtok" << std::setw(12) << "$/Mtok@SLO" << std::setw(10) << "analytic"
        << "  \n";
  };
  auto line = [&](const DesignRow& row) {
    const PricedArchitecture& p = r.architectures[static_cast<std::size_t>(row.priced)];
    const DeploymentResult* d = p.best >= 0 ? &p.deployments[static_cast<std::size_t>(p.best)] : nullptr;
    out << std::left << std::setw(20) << row.label << std::right << std::setw(4) << row.experts << std::setw(3)
        << (row.design.arch.is_moe() ? row.design.arch.top_k : 1) << std::setw(10)
        << fmt(row.design.total_parameters / 1e9, 2) + "B" << std::setw(9)
        << fmt(row.design.activated_parameters / 1e9, 2) + "B" << std::setw(10) << fmt(row.tokens / 1e9, 1) + "B"
        << std::setw(7) << fmt(row.tokens / row.design.n_dense_realised, 0) << std::setw(8) << fmt(row.loss, 4)
        << std::setw(16) << (d ? d->layout.label() : "unservable") << std::setw(7) << (d ? fmt(d->decode_batch_size_mean, 0) : "-")
        << std::setw(9) << (d ? fmt(d->output_tokens_per_s, 0) : "-") << std::setw(10) << fmt(p.cost(), 3)
        << std::setw(12) << fmt(p.slo_cost(), 3) << std::setw(10) << fmt(row.analytic_cost_per_million_usd, 3) << "  "
        << (row.pareto_in_budget ? "P" : " ") << (row.best_in_budget ? "*" : "") << "\n";
  };
  double budget = -1;
  for (const DesignRow& row : r.designs) {
    if (!row.generated) continue;
    if (row.budget_flops != budget) {
      budget = row.budget_flops;
      out << "budget " << std::setprecision(3) << budget << " FLOPs\n";
      header();
    }
    line(row);
  }
  if (!spec.models.empty()) {
    out << "explicit models\n";
    header();
    for (const DesignRow& row : r.designs) {
      if (!row.generated) line(row);
    }
  }
  out << "\nPareto front of loss vs cost (all designs, laws[0]):\n";
  std::vector<const DesignRow*> front;
  for (const DesignRow& row : r.designs) {
    if (row.pareto_overall) front.push_back(&row);
  }
  std::sort(front.begin(), front.end(), [&](const DesignRow* a, const DesignRow* b2) {
    return r.architectures[static_cast<std::size_t>(a->priced)].cost() < r.architectures[static_cast<std::size_t>(b2->priced)].cost();
  });
  for (const DesignRow* row : front) {
    out << "  " << std::left << std::setw(20) << row->label << std::right << " loss " << fmt(row->loss, 4) << "  $"
        << fmt(r.architectures[static_cast<std::size_t>(row->priced)].cost(), 4) << "/Mtok\n";
  }
  if (!r.flops_to_match.empty()) {
    out << "\nFLOPs to match (budget E' needs to reach the loss-optimal loss of E, x the budget):\n";
    for (const FlopsToMatchRow& f : r.flops_to_match) {
      if (f.other_experts < f.base_experts) continue;
      out << "  " << std::setprecision(3) << f.budget_flops << "  E=" << f.base_experts << " -> E'=" << f.other_experts
          << ": x" << fmt(f.flops_needed / f.budget_flops, 3) << "\n";
    }
  }
  if (!r.bounded.empty()) {
    out << "\nAlgorithms 1 (cheapest E' at the base loss) and 2 (lowest-loss E' within the base cost), simulated costs:\n";
    for (const BoundedRow& x : r.bounded) {
      out << "  alg " << x.algorithm << "  " << std::setprecision(3) << x.budget_flops << "  E=" << x.base_experts
          << " (loss " << fmt(x.base_loss, 4) << ", $" << fmt(x.base_cost, 3) << ") -> E'=" << x.candidate_experts;
      if (x.candidate_n > 0) {
        out << ": N=" << fmt(x.candidate_n / 1e9, 3) << "B (" << fmt(x.candidate_fraction, 3) << " N_opt, "
            << x.candidate_arch << "), loss " << fmt(x.candidate_loss, 4) << ", $" << fmt(x.candidate_cost, 3);
      }
      if (!x.note.empty()) out << "  [" << x.note << "]";
      out << "\n";
    }
  }
  if (r.law_names.size() > 1 || !spec.laws.front().law.bootstrap.empty()) {
    out << "\nLaw sensitivity (share of law samples where the design is best / Pareto-optimal):\n";
    for (const DesignRow& row : r.designs) {
      if (row.generated && (row.best_share > 0)) {
        out << "  " << std::left << std::setw(20) << row.label << std::right << " best " << fmt(100 * row.best_share, 0)
            << " %, Pareto " << fmt(100 * row.pareto_share, 0) << " %, loss 5-95 % [" << fmt(row.loss_p05, 4) << ", "
            << fmt(row.loss_p95, 4) << "]\n";
      }
    }
  }
  if (spec.slo.enabled) {
    std::size_t unmet = 0;
    for (const DesignRow& row : r.designs) {
      if (!std::isfinite(r.architectures[static_cast<std::size_t>(row.priced)].slo_cost())) ++unmet;
    }
    // Request latencies in ms in text (docs/metrics.md, "Units").
    out << "\nSLOs: p99 TTFT <= " << fmt(1e3 * spec.slo.ttft_p99_s, 2) << " ms, p99 TPOT <= "
        << fmt(1e3 * spec.slo.tpot_p99_s, 2) << " ms (0: none), " << spec.slo.seeds << " seeds; ";
    if (unmet == 0) {
      out << "every design meets them at some rate\n";
    } else {
      out << unmet << " of " << r.designs.size()
          << " designs meet them at no Poisson rate down to 1/1024 of saturation on any searched layout "
             "($/Mtok@SLO = inf)\n";
    }
  }
  for (const std::string& w : r.warnings) out << "NOTE: " << w << "\n";
}

}  // namespace moesim::study
