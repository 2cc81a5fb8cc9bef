"""Hand-written lessons for the six losses of the course (English and Korean).

Each entry has the same sections in both languages: ``title``, ``course`` (the formula and
NumPy one-liner as the course teaches them), ``formula``, ``gradient``, ``when``,
``pitfalls`` (what the naive one-liner gets wrong), ``losskit`` (what losskit does about
it) and ``peers`` (the options that reproduce the other libraries). Texts are pre-wrapped.
The live demo of each lesson is in :mod:`losskit.explain`, computed when it is shown.
"""

SECTION_TITLES = {
    "en": {
        "course": "In the course",
        "formula": "Formula",
        "gradient": "Gradient",
        "when": "When to use it",
        "pitfalls": "Pitfalls (what the naive one-liner gets wrong)",
        "losskit": "What losskit does",
        "demo": "Checked now, on the course's example",
        "peers": "Coming from another library",
        "signature": "Call",
        "more": "More",
        "summary": "Summary",
        "task": "Task",
        "inputs": "Inputs",
        "aliases": "Aliases",
        "details": "Details (formula, gradient, options, peers)",
        "caveats": "Pitfalls",
        "translation": "Translation",
        "stream": "Streaming",
    },
    "ko": {
        "course": "강의에서는",
        "formula": "수식",
        "gradient": "기울기(그래디언트)",
        "when": "언제 쓰나",
        "pitfalls": "주의할 점 (단순한 한 줄 코드가 틀리는 곳)",
        "losskit": "losskit은 이렇게 합니다",
        "demo": "강의 예제로 지금 직접 확인",
        "peers": "다른 라이브러리에서 옮겨 올 때",
        "signature": "호출 형식",
        "more": "더 보기",
        "summary": "요약",
        "task": "용도",
        "inputs": "입력",
        "aliases": "다른 이름",
        "details": "상세 설명 (수식, 기울기, 옵션, 다른 라이브러리; 영어 원문)",
        "caveats": "주의할 점",
        "translation": "번역 상태",
        "stream": "스트리밍",
    },
}

LESSONS = {
    # ------------------------------------------------------------------------------------
    "mean_squared_error": {
        "en": {
            "title": "Mean squared error (MSE): the course's regression loss",
            "course": """\
  MSE = (1/n) * sum_i (y_i - p_i)^2
  np.mean((y_true - y_pred) ** 2)""",
            "formula": """\
  l_i = (p_i - y_i)^2            per element; "mean" = sum_i w_i l_i / sum_i w_i
The mean of the squared residuals. Its minimiser is the conditional mean of y.""",
            "gradient": """\
  dl_i/dp_i = 2 (p_i - y_i)      Hessian 2; the mean divides both by n (or by sum w)""",
            "when": """\
Regression with roughly Gaussian, symmetric noise, when large errors should cost much more
than small ones. The default regression loss of every framework; report its square root
(RMSE) to get an error in the units of y.""",
            "pitfalls": """\
- Mismatched shapes broadcast silently: y_true of shape (3, 1) and y_pred of shape (3,)
  become a (3, 3) matrix of every pair, and np.mean returns a wrong number without warning.
  This is the classic bug of a Keras/PyTorch model with an (n, 1) output.
- Outliers dominate: one error of 10 costs as much as 100 errors of 1 (see huber, mae).
- The value depends on the units of y; compare models on the same scale only.""",
            "losskit": """\
- Shapes must match exactly: (3, 1) vs (3,) raises LossInputError naming both shapes.
- Sums accumulate in float64 on the NumPy path; the same code runs on PyTorch and JAX and
  stays differentiable; .grad and .grad_hess return 2 (p - y) and 2 in closed form.""",
            "peers": """\
- PyTorch F.mse_loss / nn.MSELoss: the same (reduction "mean", "sum", "none").
- Keras MeanSquaredError: averages the last axis per sample and divides weighted sums by the
  sample count: reduction="sum_over_batch_size".
- optax.squared_error: no reduction (and no 1/2 factor): reduction="none".
- scikit-learn mean_squared_error: the same (sample_weight as here).""",
        },
        "ko": {
            "title": "평균 제곱 오차 (MSE): 강의의 회귀 손실",
            "course": """\
  MSE = (1/n) * sum_i (y_i - p_i)^2
  np.mean((y_true - y_pred) ** 2)""",
            "formula": """\
  l_i = (p_i - y_i)^2            원소별; "mean" = sum_i w_i l_i / sum_i w_i
잔차 제곱의 평균입니다. 이 손실을 최소화하는 예측값은 y의 조건부 평균입니다.""",
            "gradient": """\
  dl_i/dp_i = 2 (p_i - y_i)      헤시안 2; 평균을 내면 둘 다 n(또는 sum w)으로 나눕니다""",
            "when": """\
잡음이 대략 정규분포이고 대칭인 회귀 문제에서, 큰 오차를 작은 오차보다 훨씬 무겁게
벌하고 싶을 때 씁니다. 모든 프레임워크의 기본 회귀 손실입니다. y와 같은 단위의 오차가
필요하면 제곱근(RMSE)을 보고하세요.""",
            "pitfalls": """\
- 모양이 다르면 조용히 브로드캐스팅됩니다: y_true가 (3, 1), y_pred가 (3,)이면 모든 쌍의
  (3, 3) 행렬이 만들어지고 np.mean은 경고 없이 틀린 값을 돌려줍니다. 출력이 (n, 1)인
  Keras/PyTorch 모델에서 자주 생기는 버그입니다.
- 이상치에 끌려갑니다: 오차 10 하나가 오차 1 백 개와 같은 비용입니다 (huber, mae 참고).
- 값이 y의 단위에 따라 달라지므로 같은 척도에서만 모델을 비교하세요.""",
            "losskit": """\
- 모양이 정확히 같아야 합니다: (3, 1)과 (3,)은 두 모양을 밝힌 LossInputError를 냅니다.
- NumPy에서는 합을 float64로 누적합니다. 같은 코드가 PyTorch와 JAX에서도 돌고 미분이
  유지되며, .grad와 .grad_hess는 2 (p - y)와 2를 닫힌 형태로 돌려줍니다.""",
            "peers": """\
- PyTorch F.mse_loss / nn.MSELoss: 동일 (reduction "mean", "sum", "none").
- Keras MeanSquaredError: 마지막 축을 샘플별로 평균하고 가중 합을 샘플 수로 나눕니다:
  reduction="sum_over_batch_size".
- optax.squared_error: 축소하지 않음 (1/2 계수도 없음): reduction="none".
- scikit-learn mean_squared_error: 동일 (sample_weight도 같은 뜻).""",
        },
    },
    # ------------------------------------------------------------------------------------
    "binary_cross_entropy": {
        "en": {
            "title": "Binary cross-entropy (log loss): the course's binary classification loss",
            "course": """\
  BCE = -(1/n) * sum_i [ y_i log p_i + (1 - y_i) log(1 - p_i) ]
  -np.mean(y_true * np.log(y_pred) + (1 - y_true) * np.log(1 - y_pred))""",
            "formula": """\
  probabilities p:  l = -( y log p + (1 - y) log(1 - p) )
  logits x:         l = y softplus(-x) + (1 - y) softplus(x)      (from_logits=True)
The negative log-likelihood of a Bernoulli model; y may be a soft label in [0, 1].""",
            "gradient": """\
  dl/dp = -y/p + (1 - y)/(1 - p) = (p - y) / (p (1 - p))
  dl/dx = sigmoid(x) - y                                         (logits)
With logits the gradient is simply "prediction minus target": bounded, never exploding.""",
            "when": """\
Binary classification, and multi-label classification (one independent yes/no per
column), with a sigmoid output. Minimising it gives calibrated probabilities. Prefer
feeding logits (from_logits=True): it is both more accurate and more stable.""",
            "pitfalls": """\
- A probability of exactly 0 or 1 gives log(0) = -inf, and 0 * (-inf) = NaN, even for a
  perfectly right prediction: y = [1, 0, 1, 0], p = [1, 0, 0.9, 0.1] gives nan.
- sigmoid then log in two steps loses everything for large logits (sigmoid(40) == 1.0 in
  float64, so log(1 - p) = -inf).
- Libraries clip differently (Keras at 1e-7, PyTorch caps log at -100), so confident wrong
  predictions cost different amounts in different libraries.""",
            "losskit": """\
- 0 log 0 = 0 exactly; p and 1 - p are floored at epsilon inside the logs only, so a
  confident wrong prediction costs -log(epsilon) (100 in float64, 40 in float32) and the
  value, gradient and Hessian stay finite.
- from_logits=True evaluates softplus directly: exact for every finite logit (+-1e4 too).
- Options: label_smoothing, pos_weight (PyTorch's), epsilon (to reproduce Keras).""",
            "peers": """\
- PyTorch F.binary_cross_entropy: the default (the same -100 floor on the log in float64);
  F.binary_cross_entropy_with_logits: from_logits=True (pos_weight maps one to one).
- Keras BinaryCrossentropy: epsilon=1e-7, reduction="sum_over_batch_size"
  (from_logits and label_smoothing map one to one).
- optax.sigmoid_binary_cross_entropy(logits, labels): from_logits=True, reduction="none".
- scikit-learn log_loss: the default.""",
        },
        "ko": {
            "title": "이진 교차 엔트로피 (로그 손실): 강의의 이진 분류 손실",
            "course": """\
  BCE = -(1/n) * sum_i [ y_i log p_i + (1 - y_i) log(1 - p_i) ]
  -np.mean(y_true * np.log(y_pred) + (1 - y_true) * np.log(1 - y_pred))""",
            "formula": """\
  확률 p:    l = -( y log p + (1 - y) log(1 - p) )
  로짓 x:    l = y softplus(-x) + (1 - y) softplus(x)      (from_logits=True)
베르누이 모델의 음의 로그 우도입니다. y는 [0, 1] 사이의 소프트 레이블이어도 됩니다.""",
            "gradient": """\
  dl/dp = -y/p + (1 - y)/(1 - p) = (p - y) / (p (1 - p))
  dl/dx = sigmoid(x) - y                                         (로짓)
로짓으로 미분하면 기울기는 "예측 - 정답"일 뿐이라 유계이고 폭주하지 않습니다.""",
            "when": """\
시그모이드 출력을 쓰는 이진 분류와, 열마다 독립적인 예/아니오를 맞히는 다중 레이블
분류에 씁니다. 이 손실을 최소화하면 보정된 확률을 얻습니다. 로짓을 그대로 넣는 편
(from_logits=True)이 더 정확하고 더 안정적입니다.""",
            "pitfalls": """\
- 확률이 정확히 0이나 1이면 log(0) = -inf이고 0 * (-inf) = NaN이 되어, 완벽하게 맞힌
  예측에서도 nan이 나옵니다: y = [1, 0, 1, 0], p = [1, 0, 0.9, 0.1]이면 nan입니다.
- 시그모이드를 먼저 계산하고 로그를 취하면 큰 로짓에서 정보가 모두 사라집니다
  (float64에서 sigmoid(40) == 1.0이므로 log(1 - p) = -inf).
- 라이브러리마다 자르는 방식이 다릅니다 (Keras는 1e-7, PyTorch는 로그를 -100에서 자름).
  그래서 확신에 찬 오답의 비용이 라이브러리마다 다릅니다.""",
            "losskit": """\
- 0 log 0 = 0을 정확히 지킵니다. 로그를 취할 때만 p와 1 - p에 하한 epsilon을 두므로
  확신에 찬 오답의 비용은 -log(epsilon) (float64에서 100, float32에서 40)이고,
  값, 기울기, 헤시안이 모두 유한합니다.
- from_logits=True는 softplus를 바로 계산합니다: 모든 유한한 로짓(+-1e4 포함)에서 정확.
- 옵션: label_smoothing, pos_weight (PyTorch와 같은 뜻), epsilon (Keras 재현용).""",
            "peers": """\
- PyTorch F.binary_cross_entropy: 기본값 그대로 (float64에서 로그의 하한 -100도 같음);
  F.binary_cross_entropy_with_logits: from_logits=True (pos_weight는 그대로 대응).
- Keras BinaryCrossentropy: epsilon=1e-7, reduction="sum_over_batch_size"
  (from_logits, label_smoothing은 그대로 대응).
- optax.sigmoid_binary_cross_entropy(logits, labels): from_logits=True, reduction="none".
- scikit-learn log_loss: 기본값 그대로.""",
        },
    },
    # ------------------------------------------------------------------------------------
    "categorical_cross_entropy": {
        "en": {
            "title": "Categorical cross-entropy: the course's multiclass classification loss",
            "course": """\
  CCE = -(1/n) * sum_i sum_c y_ic log p_ic
  -np.mean(np.sum(y_true * np.log(y_pred), axis=1))""",
            "formula": """\
  probabilities p:  l_i = -sum_c y_ic log p_ic              (classes on axis=-1)
  logits x:         l_i = logsumexp(x_i) - sum_c y_ic x_ic  (from_logits=True, one-hot y)
y holds one-hot (or soft) target rows; for integer labels use
sparse_categorical_cross_entropy.""",
            "gradient": """\
  dl/dp_c = -y_c / p_c
  dl/dx_c = softmax(x)_c - y_c                              (logits; times sum_c y_c)""",
            "when": """\
Single-label multiclass classification with a softmax output: each sample belongs to
exactly one of C classes. Feed logits (from_logits=True) when you can.""",
            "pitfalls": """\
- A zero probability in any class gives 0 * log 0 = NaN, even in a class whose target is 0:
  y = [1, 0, 0], p = [0.9, 0.1, 0.0] gives nan.
- log(softmax(x)) in two steps overflows or underflows for large logits.
- Rows of p that do not sum to 1 silently give a wrong number (Keras renormalises them
  without telling you; PyTorch's cross_entropy expects logits, not probabilities).""",
            "losskit": """\
- 0 log 0 = 0; p is floored at epsilon inside the log only, so every value is finite.
- from_logits=True uses a log-sum-exp with log1p that never overflows and keeps tiny losses
  accurate (x = [40, 0, 0] gives 8.5e-18 = log(1 + 2 e^-40), not 0).
- Probability rows are checked to sum to 1 (renormalize=True renormalises, as Keras does).
- Options: class_weight (PyTorch's weight, with its mean rule), label_smoothing, axis.""",
            "peers": """\
- Keras CategoricalCrossentropy: renormalize=True, epsilon=1e-7,
  reduction="sum_over_batch_size" (float32 inputs).
- PyTorch F.cross_entropy with probability targets: from_logits=True; with integer labels:
  sparse_categorical_cross_entropy(from_logits=True); weight=w -> class_weight=w.
- optax.softmax_cross_entropy(logits, labels): from_logits=True, reduction="none".
- scikit-learn log_loss with a label-indicator y_true: the default.""",
        },
        "ko": {
            "title": "범주형 교차 엔트로피: 강의의 다중 클래스 분류 손실",
            "course": """\
  CCE = -(1/n) * sum_i sum_c y_ic log p_ic
  -np.mean(np.sum(y_true * np.log(y_pred), axis=1))""",
            "formula": """\
  확률 p:    l_i = -sum_c y_ic log p_ic              (클래스 축 axis=-1)
  로짓 x:    l_i = logsumexp(x_i) - sum_c y_ic x_ic  (from_logits=True, 원-핫 y)
y는 원-핫(또는 소프트 레이블) 정답 행입니다. 정수 레이블이면
sparse_categorical_cross_entropy를 쓰세요.""",
            "gradient": """\
  dl/dp_c = -y_c / p_c
  dl/dx_c = softmax(x)_c - y_c                              (로짓; sum_c y_c를 곱함)""",
            "when": """\
소프트맥스 출력을 쓰는 단일 레이블 다중 클래스 분류, 즉 각 샘플이 C개 클래스 중
정확히 하나에 속할 때 씁니다. 가능하면 로짓을 넣으세요 (from_logits=True).""",
            "pitfalls": """\
- 어느 한 클래스라도 확률이 0이면 0 * log 0 = NaN이 됩니다. 정답이 0인 클래스에서도
  마찬가지입니다: y = [1, 0, 0], p = [0.9, 0.1, 0.0]이면 nan입니다.
- log(softmax(x))를 두 단계로 계산하면 큰 로짓에서 오버플로나 언더플로가 납니다.
- 합이 1이 아닌 확률 행은 조용히 틀린 값을 줍니다 (Keras는 알리지 않고 다시
  정규화하고, PyTorch의 cross_entropy는 확률이 아니라 로짓을 기대합니다).""",
            "losskit": """\
- 0 log 0 = 0. 로그를 취할 때만 p에 하한 epsilon을 두므로 모든 값이 유한합니다.
- from_logits=True는 log1p를 쓰는 log-sum-exp로 계산해 오버플로가 없고 아주 작은
  손실도 정확합니다 (x = [40, 0, 0]이면 0이 아니라 8.5e-18 = log(1 + 2 e^-40)).
- 확률 행의 합이 1인지 검사합니다 (renormalize=True는 Keras처럼 다시 정규화).
- 옵션: class_weight (PyTorch의 weight와 같은 평균 규칙), label_smoothing, axis.""",
            "peers": """\
- Keras CategoricalCrossentropy: renormalize=True, epsilon=1e-7,
  reduction="sum_over_batch_size" (float32 입력).
- PyTorch F.cross_entropy에 확률 정답: from_logits=True; 정수 레이블이면
  sparse_categorical_cross_entropy(from_logits=True); weight=w -> class_weight=w.
- optax.softmax_cross_entropy(logits, labels): from_logits=True, reduction="none".
- scikit-learn log_loss에 레이블 지시 행렬 y_true: 기본값 그대로.""",
        },
    },
    # ------------------------------------------------------------------------------------
    "hinge": {
        "en": {
            "title": "Hinge loss: the course's margin (SVM) loss",
            "course": """\
  Hinge = (1/n) * sum_i max(0, 1 - y_i * s_i)       with labels y in {-1, +1}
  np.mean(np.maximum(0, 1 - y_true * y_pred))""",
            "formula": """\
  l = max(0, margin - y s)        margin = 1; s is a raw score (decision value, logit)
Zero once a sample is on the right side with room to spare; linear inside the margin.""",
            "gradient": """\
  dl/ds = -y   where margin - y s > 0,   else 0      (Hessian 0: piecewise linear)
At the kink (margin - y s == 0) losskit returns 0, as torch.autograd and jax.grad do.""",
            "when": """\
Max-margin classifiers (linear SVMs) trained on raw scores. It ignores samples that are
already classified with a margin, so it does not give probabilities; use cross-entropy
when you need calibrated probabilities.""",
            "pitfalls": """\
- The formula assumes labels -1/+1. With 0/1 labels every negative sample costs
  max(0, 1 - 0 * s) = 1 whatever its score: y = [0, 1], s = [-2, 2] is a perfect classifier
  and the one-liner says 0.5.
- Feed scores, not probabilities: with p in [0, 1], y * p <= 1 and every sample sits inside
  the margin forever.
- Not differentiable at the margin; libraries differ in the subgradient they pick.""",
            "losskit": """\
- A 0 label is read as -1, element by element (booleans too); other labels raise
  LossInputError.
- margin option; the documented subgradient matches autodiff of the value.""",
            "peers": """\
- Keras Hinge: converts 0/1 labels (only when all labels are 0/1);
  reduction="sum_over_batch_size".
- optax.hinge_loss(scores, targets): reduction="none".
- scikit-learn hinge_loss (binary): maps the smaller label to -1; the default mean.
- PyTorch has no binary hinge loss (HingeEmbeddingLoss is a different loss;
  MultiMarginLoss is losskit's multi_margin).""",
        },
        "ko": {
            "title": "힌지 손실: 강의의 마진(SVM) 손실",
            "course": """\
  Hinge = (1/n) * sum_i max(0, 1 - y_i * s_i)       레이블 y는 {-1, +1}
  np.mean(np.maximum(0, 1 - y_true * y_pred))""",
            "formula": """\
  l = max(0, margin - y s)        margin = 1; s는 원시 점수(결정 함수 값, 로짓)
여유 있게 맞는 쪽에 있는 샘플은 0이고, 마진 안에서는 선형으로 커집니다.""",
            "gradient": """\
  dl/ds = -y   (margin - y s > 0 인 곳),   그 밖에는 0      (헤시안 0: 구간별 선형)
꺾이는 점(margin - y s == 0)에서는 torch.autograd, jax.grad처럼 0을 돌려줍니다.""",
            "when": """\
원시 점수(로짓)로 학습하는 최대 마진 분류기(선형 SVM)에 씁니다. 이미 마진을 두고 맞힌 샘플은
무시하므로 확률을 주지 않습니다. 보정된 확률이 필요하면 교차 엔트로피를 쓰세요.""",
            "pitfalls": """\
- 수식은 레이블이 -1/+1이라고 가정합니다. 0/1 레이블이면 음성 샘플은 점수와 상관없이
  max(0, 1 - 0 * s) = 1의 비용을 냅니다: y = [0, 1], s = [-2, 2]는 완벽한 분류기인데
  한 줄 코드는 0.5라고 합니다.
- 확률이 아니라 점수를 넣으세요: p가 [0, 1]이면 y * p <= 1이라 모든 샘플이 영원히
  마진 안에 있습니다.
- 마진에서 미분할 수 없어 라이브러리마다 고르는 부분 기울기가 다릅니다.""",
            "losskit": """\
- 0 레이블은 원소마다 -1로 읽습니다 (불리언도 마찬가지). 그 밖의 레이블은
  LossInputError를 냅니다.
- margin 옵션이 있고, 문서화된 부분 기울기는 값의 자동 미분과 일치합니다.""",
            "peers": """\
- Keras Hinge: 모든 레이블이 0/1일 때만 변환; reduction="sum_over_batch_size".
- optax.hinge_loss(scores, targets): reduction="none".
- scikit-learn hinge_loss (이진): 작은 레이블을 -1로; 기본 평균.
- PyTorch에는 이진 힌지 손실이 없습니다 (HingeEmbeddingLoss는 다른 손실이고,
  MultiMarginLoss는 losskit의 multi_margin입니다).""",
        },
    },
    # ------------------------------------------------------------------------------------
    "kl_divergence": {
        "en": {
            "title": "Kullback-Leibler divergence: the course's distribution-matching loss",
            "course": """\
  KL(y || p) = sum_c y_c log(y_c / p_c)            (averaged over samples)
  -np.sum(y_true * np.log(y_pred / y_true))""",
            "formula": """\
  l_i = sum_c t_c log(t_c / q_c)     over the class axis, 0 log 0 = 0; "mean" over samples
How many extra nats a code built for q spends on data from t. It equals the cross-entropy
minus the entropy of t, so its gradient in q is the cross-entropy's.""",
            "gradient": """\
  dl/dq_c = -t_c / q_c
  dl/dx_c = softmax(x)_c - t_c                     (from_logits=True; times sum_c t_c)""",
            "when": """\
Matching a predicted distribution to a target distribution: knowledge distillation,
label distributions, the latent term of a VAE. It is asymmetric: KL(t || q) punishes q for
missing mass where t has it (reverse_kl_divergence is the other direction).""",
            "pitfalls": """\
- One-hot or sparse targets: y / p = 0 and log 0 = -inf, so 0 * (-inf) = NaN:
  y = [1, 0, 0], p = [0.8, 0.1, 0.1] gives nan although the answer is -log 0.8.
- Argument order and reduction differ between libraries: PyTorch's kl_div takes
  (log-probabilities, target), and its "mean" divides by the number of elements
  ("batchmean" is the true per-sample mean).
- For nearly equal distributions the direct sum cancels to a few correct digits.""",
            "losskit": """\
- 0 log 0 = 0 exactly; q is floored at epsilon inside the log, so values stay finite.
- from_logits=True (log_softmax) and log_target=True accept the forms PyTorch and optax use.
- A Bregman form keeps full relative accuracy when t is close to q.
- Rows are checked to sum to 1 (normalized=False skips the check).""",
            "peers": """\
- Keras KLDivergence: normalized=False, epsilon=1e-7, clip_target=True,
  reduction="sum_over_batch_size".
- PyTorch F.kl_div(input, target): kl_divergence(target, input, from_logits=True);
  its "batchmean" is losskit's "mean" (2-D input); log_target=True maps one to one.
- optax.kl_divergence(log_predictions, targets): from_logits=True, reduction="none".
- scipy.special.rel_entr(t, q).sum(-1): the default.""",
        },
        "ko": {
            "title": "쿨백-라이블러 발산: 강의의 분포 맞추기 손실",
            "course": """\
  KL(y || p) = sum_c y_c log(y_c / p_c)            (샘플에 대해 평균)
  -np.sum(y_true * np.log(y_pred / y_true))""",
            "formula": """\
  l_i = sum_c t_c log(t_c / q_c)     클래스 축에 대해, 0 log 0 = 0; "mean"은 샘플 평균
분포 t를 따르는 데이터를 q에 맞춰 설계한 부호로 압축하면 평균적으로 더 드는
정보량(nat)입니다. 교차 엔트로피에서 t의 엔트로피를 뺀 값이므로 q에 대한 기울기는
교차 엔트로피의 기울기와 같습니다.""",
            "gradient": """\
  dl/dq_c = -t_c / q_c
  dl/dx_c = softmax(x)_c - t_c                     (from_logits=True; sum_c t_c를 곱함)""",
            "when": """\
예측 분포를 정답 분포에 맞출 때 씁니다: 지식 증류, 레이블 분포, VAE의 잠재 변수 항.
비대칭입니다: KL(t || q)는 t에 확률이 있는 곳을 q가 놓치면 크게 벌합니다
(반대 방향은 reverse_kl_divergence).""",
            "pitfalls": """\
- 원-핫이나 희소한 정답: y / p = 0이고 log 0 = -inf라서 0 * (-inf) = NaN입니다:
  y = [1, 0, 0], p = [0.8, 0.1, 0.1]이면 답은 -log 0.8인데 nan이 나옵니다.
- 라이브러리마다 인자 순서와 축소 방식이 다릅니다: PyTorch의 kl_div는
  (로그 확률, 정답) 순서이고, "mean"은 원소 수로 나눕니다 (샘플 평균은 "batchmean").
- 거의 같은 두 분포에서는 직접 더한 합이 상쇄되어 맞는 자릿수가 몇 개 남지 않습니다.""",
            "losskit": """\
- 0 log 0 = 0을 정확히 지킵니다. 로그를 취할 때 q에 하한 epsilon을 두므로 값이 유한합니다.
- from_logits=True (log_softmax)와 log_target=True로 PyTorch, optax의 입력 형태를 받습니다.
- 브레그만 형태로 계산해 t와 q가 가까워도 상대 정확도를 모두 유지합니다.
- 행의 합이 1인지 검사합니다 (normalized=False면 검사하지 않음).""",
            "peers": """\
- Keras KLDivergence: normalized=False, epsilon=1e-7, clip_target=True,
  reduction="sum_over_batch_size".
- PyTorch F.kl_div(input, target): kl_divergence(target, input, from_logits=True);
  "batchmean"은 losskit의 "mean" (2차원 입력); log_target=True는 그대로 대응.
- optax.kl_divergence(log_predictions, targets): from_logits=True, reduction="none".
- scipy.special.rel_entr(t, q).sum(-1): 기본값 그대로.""",
        },
    },
    # ------------------------------------------------------------------------------------
    "dice": {
        "en": {
            "title": "Dice loss: the course's segmentation loss",
            "course": """\
  Dice = 1 - (2 * sum(y * p) + s) / (sum(y) + sum(p) + s)        s = 1
  1 - (2 * np.sum(y_true * y_pred) + 1) / (np.sum(y_true) + np.sum(y_pred) + 1)""",
            "formula": """\
  l = 1 - (2 TP + s_nr) / (sum(y) + sum(p) + s_dr),   TP = sum(y p)
Sums run over axis: None (default) is one global score over everything, as in the
course; axis=(2, 3) on (B, C, H, W) scores every image and class.""",
            "gradient": """\
  dl/dp_i = -(2 y_i - R) / D,   R = (2 TP + s_nr) / D,   D = sum(y) + sum(p) + s_dr
Every pixel's gradient depends on the whole sum: a foreground pixel is pushed up, a
background pixel down, by amounts that shrink as the overlap improves.""",
            "when": """\
Segmentation with a small foreground (class imbalance): it optimises the overlap metric
itself instead of per-pixel accuracy. Often combined with cross-entropy for smoother early
training.""",
            "pitfalls": """\
- One global score over everything: a missed small object in one image barely moves it,
  because large images dominate the sums. Per-image or per-class scores (axis=...) are
  usually what you want.
- With s = 0, an empty mask against an empty prediction is 0/0 = NaN.
- Smoothing conventions differ (Keras 0 and 1e-7, MONAI 1e-5 and 1e-5), and the global form
  is not a sum over samples, so mini-batch averages of it are not the dataset's Dice.""",
            "losskit": """\
- axis chooses global, per-image or per-class scores; smooth (or smooth_nr / smooth_dr).
- Empty masks are finite: 0/0 is defined as 0 (a perfect score), value and gradient too.
- activation="sigmoid" | "softmax" for logits, integer class-id targets, class_weight,
  include_background, ignore_index (MONAI's options).
- The global score streams: losskit eval and lk.Accumulator add its sums chunk by chunk.""",
            "peers": """\
- Keras Dice(axis=None): smooth_nr=0, smooth_dr=1e-7, reduction="sum_over_batch_size".
- MONAI DiceLoss()(input, target): lk.dice(target, input, axis=(2, ..., n-1),
  smooth_nr=1e-5, smooth_dr=1e-5); batch=True -> axis=(0, 2, ..., n-1);
  sigmoid=True / softmax=True -> activation="sigmoid" / "softmax".
- optax.losses.dice_loss(logits, targets): activation="softmax", class_axis=-1,
  axis=(1, ..., n-2), smooth=2*s.""",
        },
        "ko": {
            "title": "Dice 손실: 강의의 세그멘테이션 손실",
            "course": """\
  Dice = 1 - (2 * sum(y * p) + s) / (sum(y) + sum(p) + s)        s = 1
  1 - (2 * np.sum(y_true * y_pred) + 1) / (np.sum(y_true) + np.sum(y_pred) + 1)""",
            "formula": """\
  l = 1 - (2 TP + s_nr) / (sum(y) + sum(p) + s_dr),   TP = sum(y p)
합은 axis에 대해 구합니다: None(기본값)은 강의처럼 전체에 대한 하나의 점수이고,
(B, C, H, W)에서 axis=(2, 3)이면 이미지와 클래스마다 점수를 냅니다.""",
            "gradient": """\
  dl/dp_i = -(2 y_i - R) / D,   R = (2 TP + s_nr) / D,   D = sum(y) + sum(p) + s_dr
각 픽셀의 기울기는 전체 합에 달려 있습니다: 전경 픽셀은 올리고 배경 픽셀은 내리며,
겹침이 좋아질수록 그 크기가 줄어듭니다.""",
            "when": """\
전경이 작은(클래스 불균형) 세그멘테이션에 씁니다. 픽셀별 정확도 대신 겹침 지표 자체를
최적화합니다. 초기 학습을 부드럽게 하려고 교차 엔트로피와 함께 쓰는 경우가 많습니다.""",
            "pitfalls": """\
- 전체에 대한 하나의 점수: 큰 이미지가 합을 좌우하므로 한 이미지에서 작은 물체를
  놓쳐도 점수가 거의 변하지 않습니다. 보통은 이미지별이나 클래스별 점수(axis=...)가
  원하는 것입니다.
- s = 0이면 빈 마스크와 빈 예측이 0/0 = NaN이 됩니다.
- 스무딩 규칙이 라이브러리마다 다르고 (Keras 0과 1e-7, MONAI 1e-5와 1e-5), 전역 형태는
  샘플에 대한 합이 아니어서 미니배치 평균이 데이터셋 전체의 Dice가 아닙니다.""",
            "losskit": """\
- axis로 전역, 이미지별, 클래스별 점수를 고르고, smooth (또는 smooth_nr / smooth_dr).
- 빈 마스크도 유한합니다: 0/0은 0(완벽한 점수)으로 정의하며 기울기도 마찬가지입니다.
- 로짓용 activation="sigmoid" | "softmax", 정수 클래스 레이블, class_weight,
  include_background, ignore_index (MONAI의 옵션들).
- 전역 점수도 스트리밍됩니다: losskit eval과 lk.Accumulator가 합을 청크마다 더합니다.""",
            "peers": """\
- Keras Dice(axis=None): smooth_nr=0, smooth_dr=1e-7, reduction="sum_over_batch_size".
- MONAI DiceLoss()(input, target): lk.dice(target, input, axis=(2, ..., n-1),
  smooth_nr=1e-5, smooth_dr=1e-5); batch=True -> axis=(0, 2, ..., n-1);
  sigmoid=True / softmax=True -> activation="sigmoid" / "softmax".
- optax.losses.dice_loss(logits, targets): activation="softmax", class_axis=-1,
  axis=(1, ..., n-2), smooth=2*s.""",
        },
    },
}

# Words of the records' task strings, for the Korean template of the other losses.
TASK_KO = {
    "regression": "회귀",
    "count regression": "개수(카운트) 회귀",
    "quantile regression": "분위수 회귀",
    "binary classification": "이진 분류",
    "multiclass classification": "다중 클래스 분류",
    "multiclass classification (noisy labels)": "다중 클래스 분류 (잡음 섞인 레이블)",
    "segmentation": "세그멘테이션 (영상 분할)",
    "distribution matching": "분포 맞추기",
    "embedding / direction matching": "임베딩 / 방향 맞추기",
    "non-negative regression / matching unnormalised measures": "음이 아닌 값의 회귀 / 정규화되지 않은 측도 맞추기",
}

STRUCTURE_TEXT = {
    "en": {
        "elementwise": "elementwise: one loss per element of y_pred",
        "distribution": "distribution: one loss per row, summed over the class axis",
        "overlap": "overlap: sums over axis give one score per image/class (or one global score)",
    },
    "ko": {
        "elementwise": "원소별: y_pred의 원소마다 손실 하나",
        "distribution": "분포형: 클래스 축으로 합해 행마다 손실 하나",
        "overlap": "겹침형: axis로 합해 이미지/클래스마다 점수 하나 (또는 전역 점수 하나)",
    },
}
