// The training loss on the logits [batch, classes] and its gradient: softmax cross-entropy on
// labels (torch.nn.CrossEntropyLoss, mean over the batch) or distillation to a teacher's logits,
// T² · KL(softmax(teacher/T) ‖ softmax(z/T)) with batchmean (F.kl_div(F.log_softmax(z/T), F.softmax(t/T),
// reduction='batchmean') · T²). Computed in double with the row maximum subtracted, whatever T is.
#pragma once

#include <cstdint>

namespace sl::train {

/**
 * Returns the loss and writes dLoss/dLogits into grad [batch, classes]. Exactly one of `labels`
 * (a class per sample, checked to be in range) and `teacher` ([batch, classes]) is given.
 */
template <typename T>
double softmaxLoss(const T* logits, int64_t batch, int64_t classes, const int32_t* labels, const T* teacher, double temperature,
                   T* grad);

}  // namespace sl::train
