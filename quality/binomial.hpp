#pragma once

#include <cstdint>

/// Exact binomial confidence bounds for the error-bounded rule
/// (docs/quality.md). No CAF, no I/O.
namespace ferro::quality {

/// Regularised incomplete beta function I_x(a, b) for a, b > 0, x in [0, 1].
double incomplete_beta(double x, double a, double b);

/// P(X <= k) for X ~ Binomial(n, p).
double binomial_cdf(std::uint64_t k, std::uint64_t n, double p);

/// The one-sided Clopper-Pearson upper bound of an error rate after `wrong`
/// errors in `n` trials: the largest p for which seeing at most `wrong`
/// errors still has probability >= 1 - confidence. Exact (never below its
/// nominal coverage), unlike the Wilson or normal bounds, whose coverage
/// drops below nominal for rates near 0: the rates this rule is about.
/// 1.0 when n == 0 or wrong == n.
double binomial_upper(std::uint64_t wrong, std::uint64_t n, double confidence);

/// The least feedback with no error at all whose upper bound is <= max_error:
/// ceil(ln(1 - confidence) / ln(1 - max_error)). A class with less than this
/// cannot certify max_error whatever its feedback says.
std::uint64_t wrong_free_sample(double max_error, double confidence);

} // namespace ferro::quality
