"""The docs site's formulas: for every registered loss, its value and gradient in LaTeX, when to
use it and its main pitfall (the course losses' lessons in ``losskit.lessons`` take precedence
for the last two). ``tests/test_docs_site.py`` checks that every registered loss has an entry.

Notation: ``y`` the target, ``p`` a probability, ``x`` a logit, ``s`` a score, ``d = p - y`` the
residual of a regression prediction; sums without limits run over the class axis (distribution
losses) or over the summed ``axis`` (overlap losses). Gradients are with respect to ``y_pred``.
"""

# name: (value, gradient, when to use it, pitfall)
MATH = {
    "mean_squared_error": (
        r"\ell = (p - y)^2",
        r"\frac{\partial \ell}{\partial p} = 2\,(p - y)",
        "Regression with roughly Gaussian noise.",
        "Shapes (n, 1) and (n,) broadcast to (n, n) in NumPy.",
    ),
    "mean_absolute_error": (
        r"\ell = |p - y|",
        r"\frac{\partial \ell}{\partial p} = \operatorname{sign}(p - y)",
        "Robust regression; its minimiser is the conditional median.",
        "Its gradient does not shrink near the optimum (use a decaying step size).",
    ),
    "mean_absolute_percentage_error": (
        r"\ell = c\,\frac{|p - y|}{\max(|y|, \epsilon)},\quad c = 100",
        r"\frac{\partial \ell}{\partial p} = c\,\frac{\operatorname{sign}(p - y)}{\max(|y|, \epsilon)}",
        "Relative errors of strictly non-zero targets.",
        "Targets near 0 give enormous values; sklearn returns a fraction (percent=False).",
    ),
    "mean_squared_logarithmic_error": (
        r"\ell = \big(\log(1 + p) - \log(1 + y)\big)^2",
        r"\frac{\partial \ell}{\partial p} = \frac{2\,(\log(1+p) - \log(1+y))}{1 + p}",
        "Positive targets spanning orders of magnitude (relative errors).",
        "Not convex in p where the log-residual exceeds 1; inputs must exceed -1.",
    ),
    "huber": (
        r"\ell = \begin{cases} \tfrac12 d^2 & |d| \le \delta \\ \delta\,(|d| - \tfrac12\delta) & |d| > \delta \end{cases}",
        r"\frac{\partial \ell}{\partial p} = \operatorname{clip}(d, -\delta, \delta)",
        "Regression with outliers: quadratic near 0, linear in the tails.",
        "delta is in the units of y; its Hessian jumps at |d| = delta.",
    ),
    "pseudo_huber": (
        r"\ell = \delta^2\left(\sqrt{1 + (d/\delta)^2} - 1\right)",
        r"\frac{\partial \ell}{\partial p} = \frac{d}{\sqrt{1 + (d/\delta)^2}}",
        "A Huber loss that is twice differentiable (gradient boosting).",
        "Its Hessian 1/h^3 is tiny for large residuals: boosting steps become slow.",
    ),
    "smooth_l1": (
        r"\ell = \begin{cases} \tfrac12 d^2/\beta & |d| < \beta \\ |d| - \tfrac12\beta & |d| \ge \beta \end{cases}",
        r"\frac{\partial \ell}{\partial p} = \begin{cases} d/\beta & |d| < \beta \\ \operatorname{sign}(d) & |d| \ge \beta \end{cases}",
        "PyTorch's detection regression loss (box coordinates).",
        "It is Huber divided by beta: the two differ by that factor.",
    ),
    "log_cosh": (
        r"\ell = \log\cosh(p - y)",
        r"\frac{\partial \ell}{\partial p} = \tanh(p - y)",
        "Smooth robust regression, twice differentiable.",
        "The naive log(cosh(d)) overflows beyond |d| = 710.",
    ),
    "quantile": (
        r"\ell = \begin{cases} (1 - q)\,d & d \ge 0 \\ -q\,d & d < 0 \end{cases}",
        r"\frac{\partial \ell}{\partial p} = \begin{cases} 1 - q & d \ge 0 \\ -q & d < 0 \end{cases}",
        "Predicting a quantile (prediction intervals).",
        "q = 0.5 is half the absolute error, not the absolute error.",
    ),
    "poisson": (
        r"\ell = \lambda - y \log(\lambda + \epsilon),\quad \lambda = p",
        r"\frac{\partial \ell}{\partial \lambda} = 1 - \frac{y}{\lambda + \epsilon}",
        "Count data: the negative log-likelihood of a Poisson rate.",
        "Rates or log-rates: pass log_input=True for log-rates (PyTorch's default).",
    ),
    "gaussian_nll": (
        r"\ell = \tfrac12\left(\log v + \frac{(y - \mu)^2}{v}\right),\quad v = \max(\sigma^2, \epsilon)",
        r"\frac{\partial \ell}{\partial \mu} = \frac{\mu - y}{v}",
        "Regression with a known or predicted variance.",
        "The variance is an option, not differentiated by .grad.",
    ),
    "binary_cross_entropy": (
        r"\ell = -\big(y \log p + (1 - y) \log(1 - p)\big)",
        r"\frac{\partial \ell}{\partial p} = -\frac{y}{p} + \frac{1 - y}{1 - p},"
        r"\qquad \frac{\partial \ell}{\partial x} = \sigma(x) - y",
        "Binary and multi-label classification.",
        "log 0 gives nan/inf for p of exactly 0 or 1.",
    ),
    "binary_focal_cross_entropy": (
        r"\ell = -\alpha_t (1 - p_t)^{\gamma} \log p_t,\quad p_t = y p + (1 - y)(1 - p)",
        r"\frac{\partial \ell}{\partial x} = \alpha_t (1 - p_t)^{\gamma}"
        r"\left(\gamma\,\frac{\partial \log(1 - p_t)}{\partial x}\,\mathrm{BCE} + p - y\right)",
        "Heavily imbalanced binary problems (dense detection).",
        "Keras's alpha is applied only with apply_class_balancing=True.",
    ),
    "categorical_cross_entropy": (
        r"\ell = -\sum_c t_c \log p_c",
        r"\frac{\partial \ell}{\partial p_c} = -\frac{t_c}{p_c},\qquad"
        r"\frac{\partial \ell}{\partial x_c} = \Big(\sum_k t_k\Big)\operatorname{softmax}(x)_c - t_c",
        "Multiclass classification with one-hot or soft targets.",
        "0 log 0 is nan in the naive sum; exp of large logits overflows.",
    ),
    "sparse_categorical_cross_entropy": (
        r"\ell = -\log p_{y}",
        r"\frac{\partial \ell}{\partial x_c} = \operatorname{softmax}(x)_c - [c = y]",
        "Multiclass classification with integer labels.",
        "Labels must be class ids in [0, C); a (N, 1) label column is accepted.",
    ),
    "categorical_focal_cross_entropy": (
        r"\ell = -\sum_c \alpha_c t_c (1 - p_c)^{\gamma} \log p_c",
        r"\frac{\partial \ell}{\partial p_c} = \alpha_c t_c\left(\gamma (1 - p_c)^{\gamma - 1}"
        r"\log p_c - \frac{(1 - p_c)^{\gamma}}{p_c}\right)",
        "Imbalanced multiclass problems.",
        "Keras's default alpha=0.25 scales every class.",
    ),
    "sparse_categorical_focal_cross_entropy": (
        r"\ell = -\alpha_y (1 - p_y)^{\gamma} \log p_y",
        r"\frac{\partial \ell}{\partial p_y} = \alpha_y\left(\gamma (1 - p_y)^{\gamma - 1}"
        r"\log p_y - \frac{(1 - p_y)^{\gamma}}{p_y}\right)",
        "Imbalanced multiclass problems with integer labels.",
        "gamma = 0 is cross-entropy times alpha.",
    ),
    "generalized_cross_entropy": (
        r"\ell = \frac{1 - p_y^{\,q}}{q}",
        r"\frac{\partial \ell}{\partial p_y} = -p_y^{\,q - 1},\qquad"
        r"\frac{\partial \ell}{\partial x} = -p_y^{\,q}\,(e_y - p)",
        "Classification with noisy labels.",
        "Learns slowly on hard examples for q near 1.",
    ),
    "poly1_cross_entropy": (
        r"\ell = -\sum_c t_c \log p_c + \epsilon \sum_c t_c (1 - p_c),\quad p = \operatorname{softmax}(x)",
        r"\frac{\partial \ell}{\partial x} = S p - t - \epsilon\, p \odot (t - T),\quad "
        r"S = \sum_c t_c,\ T = \sum_c t_c p_c",
        "A drop-in for softmax cross-entropy with a tunable first polynomial term.",
        "y_pred always holds logits.",
    ),
    "kl_divergence": (
        r"\ell = \sum_c t_c \log\frac{t_c}{q_c}",
        r"\frac{\partial \ell}{\partial q_c} = -\frac{t_c}{q_c},\qquad"
        r"\frac{\partial \ell}{\partial x_c} = S\,\operatorname{softmax}(x)_c - t_c",
        "Matching a target distribution (distillation, VAEs).",
        "Naive t log(t/q) is nan where t = 0; PyTorch takes log q first.",
    ),
    "reverse_kl_divergence": (
        r"\ell = \sum_c q_c \log\frac{q_c}{t_c}",
        r"\frac{\partial \ell}{\partial q_c} = \log\frac{q_c}{t_c} + 1",
        "Mode-seeking fits of a distribution.",
        "Mass where the target is 0 costs q log(q / epsilon), large.",
    ),
    "generalized_kl_divergence": (
        r"\ell = \sum_c \left(t_c \log\frac{t_c}{q_c} - t_c + q_c\right)",
        r"\frac{\partial \ell}{\partial q_c} = 1 - \frac{t_c}{q_c}",
        "Unnormalised non-negative measures (NMF, counts).",
        "For normalised rows it is plain KL.",
    ),
    "jensen_shannon_divergence": (
        r"\ell = \tfrac12 \mathrm{KL}(t \,\|\, m) + \tfrac12 \mathrm{KL}(q \,\|\, m),\quad m = \tfrac12 (t + q)",
        r"\frac{\partial \ell}{\partial q_c} = \tfrac12 \log\frac{2 q_c}{t_c + q_c}",
        "A symmetric, bounded divergence (at most log 2).",
        "SciPy's jensenshannon is its square root.",
    ),
    "cosine_similarity": (
        r"\ell = -\cos(t, p) = -\frac{\langle t, p\rangle}{\max(\|t\|, \epsilon)\,\max(\|p\|, \epsilon)}",
        r"\frac{\partial \cos}{\partial p} = \frac{\hat t - \cos\,\hat p}{\|p\|}",
        "Aligning embeddings or directions.",
        "The sign differs between Keras (negative), optax and PyTorch (similarity).",
    ),
    "cosine_distance": (
        r"\ell = 1 - \cos(t, p)",
        r"\frac{\partial \ell}{\partial p} = -\frac{\hat t - \cos\,\hat p}{\|p\|}",
        "Aligning embeddings, in [0, 2].",
        "A zero vector has cosine 0 with everything.",
    ),
    "hinge": (
        r"\ell = \max(0,\ m - y s),\quad y \in \{-1, 1\}",
        r"\frac{\partial \ell}{\partial s} = -y\,[m - y s > 0]",
        "Maximum-margin (SVM) classification on scores.",
        "0/1 labels must become -1/1; the naive one-liner gives a wrong value with 0 labels.",
    ),
    "squared_hinge": (
        r"\ell = \max(0,\ m - y s)^2",
        r"\frac{\partial \ell}{\partial s} = -2 y \max(0,\ m - y s)",
        "L2-SVM: a differentiable hinge.",
        "Penalises margin violations quadratically (outliers weigh more).",
    ),
    "perceptron": (
        r"\ell = \max(0,\ -y s)",
        r"\frac{\partial \ell}{\partial s} = -y\,[y s < 0]",
        "The perceptron's update rule as a loss.",
        "No margin: any correct score costs 0.",
    ),
    "soft_margin": (
        r"\ell = \log\left(1 + e^{-y s}\right)",
        r"\frac{\partial \ell}{\partial s} = -y\,\sigma(-y s)",
        "Logistic regression on -1/1 labels, a smooth hinge.",
        "The naive log(1 + exp(-ys)) overflows for large negative margins.",
    ),
    "categorical_hinge": (
        r"\ell = \max\Big(0,\ m + \max_{j \ne y} s_j - s_y\Big)",
        r"\frac{\partial \ell}{\partial s_y} = -1,\quad \frac{\partial \ell}{\partial s_{j^*}} = +1"
        r"\quad (\text{where } \ell > 0)",
        "Multiclass SVM (Crammer-Singer).",
        "Keras's convention (convention='keras') differs when every rival score is negative.",
    ),
    "multi_margin": (
        r"\ell = \frac{w_y}{C} \sum_{j \ne y} \max(0,\ m - s_y + s_j)^{P}",
        r"\frac{\partial \ell}{\partial s_j} = \frac{w_y}{C}\,[z_j > 0]\ (P = 1),"
        r"\quad \frac{\partial \ell}{\partial s_y} = -\sum_{j \ne y} \frac{\partial \ell}{\partial s_j}",
        "Multiclass SVM summed over rivals (Weston-Watkins, PyTorch).",
        "PyTorch's mean divides by the sample count, not by the weights.",
    ),
    "dice": (
        r"\ell = 1 - \frac{2 \sum y p + s}{\sum y + \sum p + s}",
        r"\frac{\partial \ell}{\partial p_i} = -\frac{2 y_i - R}{D},\quad "
        r"R = \frac{2 \sum y p + s}{D},\ D = \sum y + \sum p + s",
        "Segmentation with small foreground objects.",
        "A global score over the batch hides missed small objects; empty masks give 0/0 without smoothing.",
    ),
    "jaccard": (
        r"\ell = 1 - \frac{I + s}{\sum y + \sum p - I + s},\quad I = \sum y p",
        r"\frac{\partial \ell}{\partial p_i} = -\frac{y_i - R (1 - y_i)}{D},\quad R = \frac{I + s}{D}",
        "Segmentation scored by intersection over union.",
        "Like Dice, per-image scores need axis set.",
    ),
    "tversky": (
        r"\ell = 1 - \frac{TP + s}{TP + \alpha FP + \beta FN + s}",
        r"\frac{\partial \ell}{\partial p_i} = -\frac{y_i - R d_i}{D},\quad "
        r"d_i = y_i + \alpha (1 - y_i) - \beta y_i",
        "Segmentation trading false positives against false negatives.",
        "Keras's alpha weighs the false negatives: swap alpha and beta.",
    ),
    "focal_tversky": (
        r"\ell = T^{\gamma},\quad T = \text{Tversky loss}",
        r"\frac{\partial \ell}{\partial p} = \gamma\, T^{\gamma - 1} \frac{\partial T}{\partial p}",
        "Small structures in segmentation (focus on hard images).",
        "For gamma < 1 the gradient grows without bound near a perfect score.",
    ),
    "generalized_dice": (
        r"\ell = 1 - \frac{2 \sum_c w_c TP_c + s}{\sum_c w_c (2 TP_c + FP_c + FN_c) + s},"
        r"\quad w_c = \frac{1}{(\sum y_c)^2}",
        r"\frac{\partial \ell}{\partial p_{ci}} = w_c \frac{\partial\, \mathrm{dice}}{\partial p_{ci}}"
        r"\ \text{(class-weighted Dice gradient)}",
        "Segmentation with very unequal class volumes.",
        "An empty class has an infinite weight (MONAI's rule replaces it).",
    ),
    "dice_cross_entropy": (
        r"\ell = \lambda_{d}\,\mathrm{dice}(y, \operatorname{softmax}(x)) + \lambda_{ce}\,\mathrm{CE}(y, x)",
        r"\frac{\partial \ell}{\partial x} = \lambda_d \frac{\partial\, \mathrm{dice}}{\partial x}"
        r" + \lambda_{ce} \frac{\partial\, \mathrm{CE}}{\partial x}",
        "nnU-Net's segmentation loss (MONAI's DiceCELoss).",
        "y_pred holds logits; the default smoothing is 1e-5.",
    ),
    "dice_focal": (
        r"\ell = \lambda_{d}\,\mathrm{dice}(y, \sigma(x)) + \lambda_{f}\,\mathrm{focal}(y, x)",
        r"\frac{\partial \ell}{\partial x} = \lambda_d \frac{\partial\, \mathrm{dice}}{\partial x}"
        r" + \lambda_f \frac{\partial\, \mathrm{focal}}{\partial x}",
        "Segmentation with rare classes (MONAI's DiceFocalLoss).",
        "The focal term is always the per-entry sigmoid one.",
    ),
    "lovasz_hinge": (
        r"\ell = \sum_k \max(0, e_{(k)})\,(J_k - J_{k-1}),\quad e_i = 1 - x_i (2 y_i - 1)",
        r"\frac{\partial \ell}{\partial x_i} = -(2 y_i - 1)(J_k - J_{k-1})\,[e_i > 0]",
        "Optimising the binary IoU directly on logits.",
        "Not streamable: it sorts the errors of the whole sample.",
    ),
    "lovasz_softmax": (
        r"\ell_c = \sum_k e_{(k)}\,(J_k - J_{k-1}),\quad e_i = |y_{ci} - p_{ci}|",
        r"\frac{\partial \ell}{\partial p_{ci}} = \frac{w_c}{\sum w}\,(J_k - J_{k-1})\,(\pm 1)",
        "Optimising the mean per-class IoU.",
        "Not streamable; classes absent from a sample are skipped by default.",
    ),
}
