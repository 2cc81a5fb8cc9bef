"""Korean text for the losses beyond the course: the records' input lines and the pages of the
losses met most after the course ones (the six course lessons are in :mod:`losskit.lessons`)."""

# The records' input descriptions (Inputs: ...), for the Korean pages; a test checks every record has one.
INPUTS_KO = {
    "y_true, y_pred: real values > -1 (typically non-negative), same shape":
        "y_true, y_pred: -1보다 큰 실수 (보통 음이 아닌 값), 같은 모양",
    "y_true, y_pred: real vectors along axis": "y_true, y_pred: axis 방향의 실수 벡터",
    "y_true: binary masks 0/1 (ignore_index allowed); y_pred: real scores (logits) of the same shape":
        "y_true: 0/1 이진 마스크 (ignore_index 허용); y_pred: 같은 모양의 실수 점수 (로짓)",
    "y_true: counts >= 0 (need not be integers); y_pred: rates >= 0, or log-rates with log_input=True":
        "y_true: 0 이상의 개수 (정수가 아니어도 됨); y_pred: 0 이상의 발생률, 또는 log_input=True일 때 로그 발생률",
    "y_true: integer class ids (y_pred's shape without the class axis, or with it kept at size 1); "
    "y_pred: probabilities, or logits with from_logits=True; classes on `axis`":
        "y_true: 정수 클래스 번호 (y_pred에서 클래스 축을 뺀 모양, 또는 그 축을 크기 1로 남긴 모양); "
        "y_pred: 확률, 또는 from_logits=True일 때 로짓; 클래스 축은 `axis`",
    "y_true: integer class ids or one-hot masks; y_pred: class probabilities, or logits with activation='softmax'":
        "y_true: 정수 클래스 번호 또는 원-핫 마스크; y_pred: 클래스 확률, 또는 activation='softmax'일 때 로짓",
    "y_true: integer class ids shaped like y_pred without the class axis, or one-hot rows shaped like y_pred; "
    "y_pred: real scores with the class axis `axis`":
        "y_true: y_pred에서 클래스 축을 뺀 모양의 정수 클래스 번호, 또는 y_pred와 같은 모양의 원-핫 행; "
        "y_pred: 클래스 축이 `axis`인 실수 점수",
    "y_true: integer class ids, one-hot / probability masks (softmax) or masks in [0, 1] (sigmoid); "
    "y_pred: logits, classes on class_axis":
        "y_true: 정수 클래스 번호, 원-핫 / 확률 마스크 (softmax) 또는 [0, 1] 범위의 마스크 (sigmoid); "
        "y_pred: 로짓, 클래스 축은 class_axis",
    "y_true: labels in {-1, 1} or {0, 1} (0 means -1); y_pred: real scores (decision values, logits) of the same shape":
        "y_true: {-1, 1} 또는 {0, 1} 레이블 (0은 -1로 읽음); y_pred: 같은 모양의 실수 점수 (결정 함수 값, 로짓)",
    "y_true: masks in [0, 1] or integer class ids; y_pred: logits, classes on class_axis":
        "y_true: [0, 1] 범위의 마스크 또는 정수 클래스 번호; y_pred: 로짓, 클래스 축은 class_axis",
    "y_true: masks/probabilities in [0, 1] or integer class ids; y_pred: probabilities in [0, 1], "
    "or logits with activation='sigmoid'|'softmax'|'tanh'":
        "y_true: [0, 1] 범위의 마스크/확률 또는 정수 클래스 번호; y_pred: [0, 1] 범위의 확률, "
        "또는 activation='sigmoid'|'softmax'|'tanh'일 때 로짓",
    "y_true: non-negative values; y_pred: non-negative values, or log-values with log_input=True":
        "y_true: 음이 아닌 값; y_pred: 음이 아닌 값, 또는 log_input=True일 때 로그 값",
    "y_true: one-hot or probability rows (y_pred's shape); y_pred: logits; classes on `axis`":
        "y_true: 원-핫 또는 확률 행 (y_pred와 같은 모양); y_pred: 로짓; 클래스 축은 `axis`",
    "y_true: one-hot or probability rows (y_pred's shape); y_pred: probabilities, or logits with from_logits=True; "
    "classes on `axis`":
        "y_true: 원-핫 또는 확률 행 (y_pred와 같은 모양); y_pred: 확률, 또는 from_logits=True일 때 로짓; "
        "클래스 축은 `axis`",
    "y_true: one-hot rows shaped like y_pred, or integer class ids shaped like y_pred without the class axis; "
    "y_pred: real scores with the class axis `axis`":
        "y_true: y_pred와 같은 모양의 원-핫 행, 또는 y_pred에서 클래스 축을 뺀 모양의 정수 클래스 번호; "
        "y_pred: 클래스 축이 `axis`인 실수 점수",
    "y_true: real targets (None: zeros); y_pred: real predictions of the same shape":
        "y_true: 실수 정답 (None이면 0); y_pred: 같은 모양의 실수 예측",
    "y_true: real targets; y_pred: predicted means of the same shape; var: variances (option)":
        "y_true: 실수 정답; y_pred: 같은 모양의 예측 평균; var: 분산 (옵션)",
    "y_true: real targets; y_pred: predicted quantiles (trailing axis of levels with several quantiles)":
        "y_true: 실수 정답; y_pred: 예측 분위수 (분위수가 여럿이면 마지막 축이 수준)",
    "y_true: real targets; y_pred: real predictions of the same shape":
        "y_true: 실수 정답; y_pred: 같은 모양의 실수 예측",
    "y_true: target distribution (probabilities, or log-probabilities with log_target=True); "
    "y_pred: predicted probabilities, or logits / log-probabilities with from_logits=True":
        "y_true: 정답 분포 (확률, 또는 log_target=True일 때 로그 확률); "
        "y_pred: 예측 확률, 또는 from_logits=True일 때 로짓 / 로그 확률",
    "y_true: target probabilities; y_pred: predicted probabilities, or logits with from_logits=True":
        "y_true: 정답 확률; y_pred: 예측 확률, 또는 from_logits=True일 때 로짓",
    "y_true: targets in [0, 1] (hard or soft labels); y_pred: probabilities, or logits with from_logits=True":
        "y_true: [0, 1] 범위의 정답 (하드 또는 소프트 레이블); y_pred: 확률, 또는 from_logits=True일 때 로짓",
}


# Korean pages of the losses met most after the course ones. Their English details stay the
# docstring (shown under them); {name} fields are the loss's option defaults, filled in when shown.
KO_PAGES = {
    "mean_absolute_error": {
        "title": "평균 절대 오차 (MAE, L1 손실)",
        "summary": "잔차 절댓값의 평균입니다. 이상치에 강하고, 최소화하는 예측값은 y의 조건부 중앙값입니다.",
        "formula": """\
  l_i = |p_i - y_i|               원소별; "mean"은 가중 평균""",
        "gradient": """\
  dl_i/dp_i = sign(p_i - y_i)     헤시안 0
잔차가 0인 곳의 부분 기울기는 0입니다 (torch.autograd, jax.grad도 같은 0을 줍니다).""",
        "when": """\
이상치가 섞인 회귀, 또는 평균이 아니라 중앙값을 맞히고 싶을 때 씁니다. 오차가 y와 같은
단위라 해석하기 쉽습니다.""",
        "pitfalls": """\
- 기울기의 크기가 오차와 상관없이 일정해서, 최솟값 근처에서도 학습률을 줄이지 않으면
  진동합니다 (huber가 절충안입니다).
- 0에서 미분할 수 없어 2차 방법(GBDT의 헤시안)에는 쓸 정보가 없습니다.""",
        "peers": """\
- PyTorch F.l1_loss, scikit-learn mean_absolute_error: 동일.
- Keras MeanAbsoluteError: reduction="sum_over_batch_size".""",
    },
    "huber": {
        "title": "Huber 손실: 작은 오차는 제곱, 큰 오차는 선형",
        "summary": "잔차가 delta 이하이면 제곱, 그보다 크면 선형으로 커지는 강건한 회귀 손실입니다.",
        "formula": """\
  l = d^2 / 2                     |d| <= delta 일 때,   d = p - y
  l = delta (|d| - delta / 2)     그 밖        (delta 기본값 {delta})""",
        "gradient": """\
  dl/dp = clip(d, -delta, delta)  헤시안은 |d| <= delta에서 1, 그 밖에서 0""",
        "when": """\
대부분의 오차는 MSE처럼 다루되 이상치의 영향은 MAE처럼 제한하고 싶은 회귀에 씁니다.
delta는 \"이 정도까지는 정상적인 오차\"로 보는 크기이므로 y의 단위에 맞춰 고르세요.""",
        "pitfalls": """\
- delta는 y의 단위에 묶여 있어, 목표값의 척도를 바꾸면 delta도 함께 바꿔야 합니다.
- PyTorch의 smooth_l1_loss(beta)는 huber를 beta로 나눈 값이라 이름만 보고 바꿔 쓰면
  값이 달라집니다 (smooth_l1 참고).""",
        "peers": """\
- PyTorch F.huber_loss(delta=...), Keras Huber(delta=...)
  (reduction="sum_over_batch_size"), optax.huber_loss (reduction="none"): 같은 식.""",
    },
    "binary_focal_cross_entropy": {
        "title": "이진 포컬 손실 (focal loss)",
        "summary": "이진 교차 엔트로피에 (1 - p_t)^gamma를 곱해, 이미 잘 맞히는 쉬운 샘플의 비중을 줄입니다.",
        "formula": """\
  l = alpha_t (1 - p_t)^gamma BCE(y, p),   p_t = y p + (1 - y)(1 - p)
gamma 기본값 {gamma}, alpha 기본값 {alpha} (None이면 alpha_t = 1). gamma = 0이면 BCE입니다.""",
        "gradient": """\
  로짓 x에 대해 (from_logits=True): alpha_t q^gamma (gamma u BCE + p - y),
  q = 1 - p_t,  u = d log q / dx
모든 항이 q^gamma에 유계인 인수를 곱한 꼴이라, 모든 유한한 로짓에서 유한하고 매끄럽습니다.""",
        "when": """\
객체 검출처럼 쉬운 음성 샘플이 압도적으로 많은 불균형 이진(또는 다중 레이블) 분류에 씁니다.
alpha로 양성 클래스의 가중치를 따로 줄 수 있습니다.""",
        "pitfalls": """\
- BCE와 달리 엄밀한 적정 점수 규칙(strictly proper scoring rule)이 아니어서, 최소화해도
  보정된 확률이 나온다는 보장이 없습니다.
- 확률을 넣으면 p가 0이나 1 근처에서 epsilon 하한에 걸립니다. 가능하면 로짓을 넣으세요
  (from_logits=True는 자르지 않고 정확합니다).
- Keras는 로짓을 float32 시그모이드로 바꾼 뒤 잘라 내므로, 큰 로짓에서 값이 losskit의
  정확한 값과 다릅니다 (아래 영어 원문 참고).""",
        "peers": """\
- Keras BinaryFocalCrossentropy: epsilon=1e-7, reduction="sum_over_batch_size".
- optax.sigmoid_focal_loss: from_logits=True, reduction="none".
- torchvision.ops.sigmoid_focal_loss: from_logits=True, alpha=0.25.""",
    },
    "jaccard": {
        "title": "Jaccard (IoU) 손실",
        "summary": "교집합을 합집합으로 나눈 IoU를 부드럽게 만든 세그멘테이션 손실입니다.",
        "formula": """\
  l = 1 - (TP + s) / (sum(y) + sum(p) - TP + s),   TP = sum(y p)
s는 스무딩 (기본값 {smooth}). 합을 구하는 축은 dice와 같이 axis로 고릅니다.""",
        "gradient": """\
  dl/dp_i = -(y_i - R (1 - y_i)) / D,   R = (TP + s) / D,   D = sum(y) + sum(p) - TP + s""",
        "when": """\
평가 지표가 IoU인 세그멘테이션에서 그 지표를 직접 최적화할 때 씁니다. Dice와 순위는
같지만 오차를 더 크게 벌합니다.""",
        "pitfalls": """\
- dice와 마찬가지로 전역 점수(axis=None)는 큰 이미지가 좌우합니다. 이미지별·클래스별
  점수는 axis로 고르세요.
- 스무딩이 0이면 빈 마스크와 빈 예측은 0/0입니다 (losskit은 0, 즉 완벽한 점수로 정의).""",
        "peers": """\
- MONAI DiceLoss(jaccard=True, smooth_nr=a, smooth_dr=b):
  lk.jaccard(target, input, smooth_nr=a/2, smooth_dr=b/2, axis=(2, ..., n-1)).""",
    },
    "tversky": {
        "title": "Tversky 손실: 거짓 양성과 거짓 음성에 다른 가중치",
        "summary": "Dice를 일반화해 거짓 양성(FP)과 거짓 음성(FN)에 각각 alpha, beta 가중치를 줍니다.",
        "formula": """\
  l = 1 - (TP + s) / (TP + alpha FP + beta FN + s)
  TP = sum(y p),  FP = sum(p (1 - y)),  FN = sum((1 - p) y)
기본값 alpha = {alpha}, beta = {beta}, s = {smooth}. alpha = beta = 1/2이면 (스무딩을 절반으로 한)
Dice, alpha = beta = 1이면 Jaccard입니다.""",
        "gradient": """\
  dl/dp_i = -(y_i - R d_i) / D,   d_i = y_i + alpha (1 - y_i) - beta y_i
  R = (TP + s) / D,   D = TP + alpha FP + beta FN + s""",
        "when": """\
작은 병변처럼 놓치는 것(FN)이 잘못 찾는 것(FP)보다 훨씬 나쁜 세그멘테이션에서 beta를
alpha보다 크게 잡아 재현율을 높일 때 씁니다.""",
        "pitfalls": """\
- 라이브러리마다 alpha와 beta가 가리키는 항이 다릅니다: Keras 3.15는 alpha를 거짓 음성에
  곱합니다 (lk.tversky(..., alpha=keras_beta, beta=keras_alpha)).
- alpha = 0이면 빈 정답에 대한 예측은 비용이 0입니다 (거짓 양성을 벌하지 않음).""",
        "peers": """\
- MONAI TverskyLoss(alpha, beta): lk.tversky(target, input, alpha=alpha, beta=beta,
  smooth_nr=1e-5, smooth_dr=1e-5, axis=(2, ..., n-1)).
- Keras Tversky: smooth_nr=0, smooth_dr=1e-7, reduction="sum_over_batch_size".""",
    },
    "jensen_shannon_divergence": {
        "title": "젠슨-섀넌 발산 (JS 발산)",
        "summary": "대칭이고 log 2로 유계이며, 두 분포의 지지 집합이 겹치지 않아도 유한한 발산입니다.",
        "formula": """\
  JS(t, q) = KL(t || m) / 2 + KL(q || m) / 2,   m = (t + q) / 2
값은 0과 log 2 사이입니다 (자연로그 기준; 비트 단위가 필요하면 log 2로 나누세요).""",
        "gradient": """\
  dJS/dq = log(2 q / (t + q)) / 2      (m이 q에 따라 변하는 것까지 포함)""",
        "when": """\
KL처럼 분포를 맞추되 방향이 없는 대칭 척도가 필요하거나, 한쪽 분포에만 확률이 있는
클래스가 있어 KL이 무한대가 될 때 씁니다.""",
        "pitfalls": """\
- 두 분포가 전혀 겹치지 않으면 얼마나 떨어져 있든 값이 똑같이 log 2라서, 거리에 대한
  정보를 주지 못합니다.
- scipy.spatial.distance.jensenshannon은 제곱근(JS 거리)을 돌려주고 입력을 다시
  정규화합니다.""",
        "peers": """\
- scipy.spatial.distance.jensenshannon(t, q, axis=-1) ** 2.
- 딥러닝 프레임워크에는 손실로 들어 있지 않습니다.""",
    },
}

NOT_TRANSLATED_KO = "이 손실의 설명은 아직 한국어로 옮기지 않았습니다. 아래는 영어 원문입니다."
