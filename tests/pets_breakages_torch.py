"""Four realistic mistakes in the PyTorch Pets lab (source/pets_lab/OxfordPetsPyTorch.ipynb).

Each entry: ``name: (solution grade_id, old text, new text, the test grade_id it must fail)``.
``old text`` occurs exactly once in that solution cell; replaced by ``new text`` it gives a
mistake a student could plausibly make.  tests/test_pets_capstone.py applies each one to the
solution notebook, grades it with ``nbgrader autograde`` and checks that exactly the points of
that test are lost (every other graded cell, test_accuracy_target included, still passes).
"""

BREAKAGES = {
    # the validation branch copied from the training one: validation is augmented too
    "augment_validation": (
        "pipeline",
        "size_steps = [v2.Resize(round(S / 0.875)), v2.CenterCrop(S)]",
        "size_steps = [v2.RandomResizedCrop(S, scale=(0.6, 1.0)), v2.RandomHorizontalFlip()]",
        "test_pipeline"),
    # "freezing" BatchNorm with requires_grad_(False) instead of eval(): in training mode its
    # running statistics still move towards the batches'
    "batchnorm_trains": (
        "model",
        "module.eval()   # normalise with (and keep) ImageNet's running statistics",
        "module.requires_grad_(False)   # frozen BatchNorm: its statistics stay ImageNet's?",
        "test_model"),
    # state_dict() hands out the live tensors: without a copy the "best" weights are the last
    "best_not_restored": (
        "training",
        "best_state = val_loss, copy.deepcopy(model.state_dict())",
        "best_state = val_loss, model.state_dict()",
        "test_training"),
    # multiplying instead of dividing: the rate picked is 100x too high
    "lr_100x": (
        "lr_finder",
        "return float(lrs[int(np.argmin(smooth))] / 10)",
        "return float(lrs[int(np.argmin(smooth))] * 10)",
        "test_lr_finder"),
}
