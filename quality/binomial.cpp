#include "quality/binomial.hpp"

#include <algorithm>
#include <cmath>

namespace ferro::quality {

namespace {

// The continued fraction of I_x(a, b) (Abramowitz-Stegun 26.5.8), evaluated
// with the modified Lentz method; converges fast for x < (a + 1) / (a + b + 2).
double beta_fraction(double x, double a, double b) {
  constexpr double tiny = 1e-300;
  constexpr double eps = 1e-15;
  double c = 1.0;
  double d = 1.0 - (a + b) * x / (a + 1.0);
  d = 1.0 / (std::abs(d) < tiny ? tiny : d);
  double f = d;
  for (int m = 1; m <= 10000; ++m) {
    const double mm = static_cast<double>(m);
    // Even step: d_{2m} = m (b - m) x / ((a + 2m - 1)(a + 2m)).
    double num = mm * (b - mm) * x / ((a + 2 * mm - 1) * (a + 2 * mm));
    d = 1.0 + num * d;
    d = 1.0 / (std::abs(d) < tiny ? tiny : d);
    c = 1.0 + num / c;
    c = std::abs(c) < tiny ? tiny : c;
    f *= c * d;
    // Odd step: d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)).
    num = -(a + mm) * (a + b + mm) * x / ((a + 2 * mm) * (a + 2 * mm + 1));
    d = 1.0 + num * d;
    d = 1.0 / (std::abs(d) < tiny ? tiny : d);
    c = 1.0 + num / c;
    c = std::abs(c) < tiny ? tiny : c;
    const double step = c * d;
    f *= step;
    if (std::abs(step - 1.0) < eps)
      break;
  }
  return f;
}

// I_x(a, b) given ln(1 / B(a, b)) = lgamma(a + b) - lgamma(a) - lgamma(b),
// which a bisection over x computes once rather than at every step.
double incomplete_beta_given(double x, double a, double b, double log_inv_beta) {
  if (x <= 0)
    return 0.0;
  if (x >= 1)
    return 1.0;
  // x^a (1-x)^b / (a B(a, b)), in logs so that large counts do not overflow.
  const double log_front = log_inv_beta + a * std::log(x) + b * std::log1p(-x);
  if (x < (a + 1) / (a + b + 2))
    return std::exp(log_front) * beta_fraction(x, a, b) / a;
  // The symmetry I_x(a, b) = 1 - I_{1-x}(b, a) keeps the fraction convergent.
  return 1.0 - std::exp(log_front) * beta_fraction(1 - x, b, a) / b;
}

double log_inv_beta(double a, double b) {
  return std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b);
}

} // namespace

double incomplete_beta(double x, double a, double b) {
  return incomplete_beta_given(x, a, b, log_inv_beta(a, b));
}

double binomial_cdf(std::uint64_t k, std::uint64_t n, double p) {
  if (k >= n)
    return 1.0;
  // P(X <= k) = I_{1-p}(n - k, k + 1).
  return incomplete_beta(1 - p, static_cast<double>(n - k), static_cast<double>(k) + 1);
}

double binomial_upper(std::uint64_t wrong, std::uint64_t n, double confidence) {
  if (n == 0 || wrong >= n)
    return 1.0;
  const double alpha = 1 - confidence;
  // P(X <= wrong) = I_{1-p}(n - wrong, wrong + 1), as in binomial_cdf.
  const double a = static_cast<double>(n - wrong), b = static_cast<double>(wrong) + 1;
  const double lib = log_inv_beta(a, b);
  auto cdf = [&](double p) { return incomplete_beta_given(1 - p, a, b, lib); };
  // binomial_cdf(wrong, n, p) falls from 1 to 0 as p goes from 0 to 1: bisect
  // for the p where it equals alpha, to 1e-10. The bound lies a few standard
  // errors above the observed rate, so start with that bracket (checked; the
  // whole [rate, 1] when it does not hold): a refit computes this for every
  // candidate cut of every class after each feedback batch.
  const double nn = static_cast<double>(n);
  double lo = static_cast<double>(wrong) / nn;
  double hi = std::min(1.0, lo + 8.0 * std::sqrt((lo * (1 - lo) + 1.0 / nn) / nn) + 8.0 / nn);
  if (cdf(hi) > alpha)
    hi = 1.0;
  for (int i = 0; i < 64 && hi - lo > 1e-10; ++i) {
    const double mid = (lo + hi) / 2;
    if (cdf(mid) > alpha)
      lo = mid;
    else
      hi = mid;
  }
  return hi; // the conservative end
}

std::uint64_t wrong_free_sample(double max_error, double confidence) {
  if (!(max_error > 0) || !(max_error < 1) || !(confidence > 0) || !(confidence < 1))
    return UINT64_MAX;
  // (1 - d)^n <= 1 - confidence.
  const double n = std::log(1 - confidence) / std::log1p(-max_error);
  if (!(n < 1e18))
    return UINT64_MAX; // a bound so tight that no count could certify it
  return static_cast<std::uint64_t>(std::ceil(n - 1e-9));
}

} // namespace ferro::quality
